"""Tables of many columns: zero-config lamina next to gradient boosting on the same fixed splits.

    .venv/bin/python benchmarks/tables.py [--tables wine,diabetes,packages]

Each table gets a split column (seeded: 70% train, 15% val, 15% test) that both sides read. lamina trains
zero-config through the CLI (the table modality: lamina.data.table_data); the baseline is scikit-learn's
HistGradientBoostingClassifier / Regressor with native categorical support, fit on train with val for its early
stopping, scored on test. Tables: scikit-learn's wine measurements (numbers, 3 classes) and diabetes progression
(numbers, regression), and a table composed from this machine's Debian package metadata (`apt-cache dumpavail`:
sizes, counts, architecture, priority and multi-arch categories; the label is the package's section, 8 largest),
listings whose photo carries the label (emoji rendered from Debian's Noto font, 60 per group, a price that says
nothing) and voice notes whose clip carries it (the synthesized keywords, 8 voices per split of espeak-ng, flite and
Festival, a length that says nothing): there the baseline reads each file as the same frozen features lamina's table
model computes (EfficientNet-Lite0's 1,280 at 224 px, speech_embedding's 192: lamina.models.file_columns).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from measure import machine_line  # noqa: E402

SPLIT_SEED = {"seed": 0}  # the split column's draw (--split-seeds runs each table on several)


def _with_splits(header: list[str], rows: list[list], path: Path) -> Path:
    rng = np.random.default_rng(SPLIT_SEED["seed"])
    draw = rng.random(len(rows))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*header, "split"])
        for r, u in zip(rows, draw):
            w.writerow([*r, "train" if u < 0.7 else "val" if u < 0.85 else "test"])
    return path


def wine(work: Path) -> tuple[Path, str]:
    from sklearn.datasets import load_wine

    d = load_wine()
    rows = [[*(f"{v:.4g}" for v in x), f"class_{y}"] for x, y in zip(d.data, d.target)]
    return _with_splits([*d.feature_names, "label"], rows, work / "wine.csv"), "label"


def diabetes(work: Path) -> tuple[Path, str]:
    from sklearn.datasets import load_diabetes

    d = load_diabetes(scaled=False)
    rows = [[*(f"{v:.4g}" for v in x), f"{y:.0f}"] for x, y in zip(d.data, d.target)]
    return _with_splits([*d.feature_names, "target"], rows, work / "diabetes.csv"), "target"


def packages(work: Path, text: bool = False) -> tuple[Path, str]:
    """Debian's package metadata as a table: numbers and categories (and with ``text`` the one-line description),
    the section as the label."""
    dump = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, check=True).stdout
    records = []
    for block in dump.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(" "))
        if "Package" in fields and "Section" in fields:
            records.append(fields)
    sections = [s for s, _ in Counter(r["Section"].split("/")[-1] for r in records).most_common(8)]
    header = ["installed_kb", "size_b", "depends", "recommends", "architecture", "priority", "multi_arch"]
    header += ["description", "label"] if text else ["label"]
    rows = []
    for r in records:
        section = r["Section"].split("/")[-1]
        if section not in sections:
            continue
        rows.append(
            [
                r.get("Installed-Size", ""),
                r.get("Size", ""),
                len(r.get("Depends", "").split(",")) if r.get("Depends") else 0,
                len(r.get("Recommends", "").split(",")) if r.get("Recommends") else 0,
                r.get("Architecture", ""),
                r.get("Priority", ""),
                r.get("Multi-Arch", "no"),
                *([r.get("Description", r.get("Description-en", ""))] if text else []),
                section,
            ]
        )
    return _with_splits(header, rows, work / ("packages-text.csv" if text else "packages.csv")), "label"


def penguins(work: Path) -> tuple[Path, str]:
    """palmerpenguins: measurements (some missing), island and sex as categories; the species as the label."""
    from palmerpenguins import load_penguins

    d = load_penguins()
    rows = [["" if v != v else v for v in r] for r in d.itertuples(index=False)]
    return _with_splits(list(d.columns), rows, work / "penguins.csv"), "species"


def anes96(work: Path) -> tuple[Path, str]:
    """statsmodels' 1996 American National Election Study: coded opinions, party, education, income; the vote."""
    import statsmodels.api as sm

    d = sm.datasets.anes96.load_pandas().data.drop(columns=["logpopul"])
    d["PID"] = d["PID"].map(lambda v: f"party_{int(v)}")  # a coded category, as a survey table spells it
    rows = [[f"{v:g}" if isinstance(v, float) else v for v in r] for r in d.itertuples(index=False)]
    header = [c if c != "vote" else "label" for c in d.columns]
    return _with_splits(header, [r for r in rows], work / "anes96.csv"), "label"


def affairs(work: Path) -> tuple[Path, str]:
    """statsmodels' Fair (1978) survey: marriage, religion, education, occupation; whether the person had affairs."""
    import statsmodels.api as sm

    d = sm.datasets.fair.load_pandas().data
    d["label"] = np.where(d.pop("affairs") > 0, "yes", "no")
    for c in ("occupation", "occupation_husb"):
        d[c] = d[c].map(lambda v: f"occ_{int(v)}")
    rows = [[f"{v:g}" if isinstance(v, float) else v for v in r] for r in d.itertuples(index=False)]
    return _with_splits(list(d.columns), rows, work / "affairs.csv"), "label"


def breast_cancer(work: Path) -> tuple[Path, str]:
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    rows = [[*(f"{v:.4g}" for v in x), d.target_names[y]] for x, y in zip(d.data, d.target)]
    return _with_splits([*d.feature_names, "label"], rows, work / "breast_cancer.csv"), "label"


def emoji_listings(work: Path) -> tuple[Path, str]:
    """A photo (an emoji, 60 per group, seeded) and a price drawn at random; the emoji's group as the label."""
    from lamina.datasets.emoji import make_emoji

    make_emoji(work / "photos", seed=0, per_class=60)
    rng = np.random.default_rng(0)
    files = sorted((work / "photos").rglob("*.png"))
    rows = [[str(f.relative_to(work)), f"{rng.gamma(2.0, 10.0):.2f}", f.parent.name] for f in files]
    return _with_splits(["photo", "price", "label"], rows, work / "listings.csv"), "label"


def keyword_notes(work: Path) -> tuple[Path, str]:
    """A clip (a synthesized keyword, lamina's speech set with 8 voices per split) and a length drawn at random; the
    keyword as the label."""
    from lamina.datasets.speech_synth import make_speech_commands_synth

    make_speech_commands_synth(work / "clips", seed=0, per_voice=2, voices_per_split=8, boost=1)
    rng = np.random.default_rng(0)
    files = sorted((work / "clips").rglob("*.wav"))
    rows = [[str(f.relative_to(work)), f"{rng.uniform(1, 9):.1f}", f.parent.name] for f in files]
    return _with_splits(["clip", "minutes", "label"], rows, work / "notes.csv"), "label"


TABLES = {
    "penguins": penguins,
    "anes96": anes96,
    "affairs": affairs,
    "breast-cancer": breast_cancer,
    "wine": wine,
    "diabetes": diabetes,
    "packages": packages,
    "packages-text": lambda w: packages(w, text=True),
    "emoji-listings": emoji_listings,
    "keyword-notes": keyword_notes,
}


def lamina_run(table: Path, label: str, work: Path, settings: list[str]) -> tuple[dict, float]:
    t0 = time.perf_counter()
    sets = [a for s in settings for a in ("--set", s)]
    r = subprocess.run(
        [sys.executable, "-m", "lamina", "train", str(table), "--output", str(work / f"{table.stem}-run"), "--json",
         "--set", f"data.label_column={label}", *sets],
        capture_output=True, text=True, env=dict(os.environ, LAMINA_PLAIN="1"),
    )  # fmt: skip
    if r.returncode != 0:
        sys.exit(r.stderr[-3000:])
    return json.loads(r.stdout)["metrics"]["test"], time.perf_counter() - t0


def baseline(table: Path, label: str) -> tuple[dict, float]:
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import accuracy_score, f1_score, r2_score

    df = pd.read_csv(table, keep_default_na=False, na_values=[""])
    features = [c for c in df.columns if c not in (label, "split")]
    for c in [c for c in features if df[c].dtype == object]:
        kind = next((k for k, end in FILE_ENDINGS.items() if df[c].str.lower().str.endswith(end).all()), None)
        if kind is not None:  # files: the frozen encoder's features
            df, added = _file_columns(df, c, table.parent, kind)
            features = [f for f in features if f != c] + added
        elif df[c].nunique() > len(df) / 2:  # free text: TF-IDF fit on train, reduced to 100 dense components
            df, added = _tfidf_columns(df, c)
            features = [f for f in features if f != c] + added
        else:
            df[c] = df[c].astype("category")
    parts = {s: df[df["split"] == s] for s in ("train", "val", "test")}
    regression = df[label].dtype.kind in "if" and df[label].nunique() > 20
    kind = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
    model = kind(categorical_features="from_dtype", early_stopping=True, random_state=0)
    t0 = time.perf_counter()
    train = pd.concat([parts["train"], parts["val"]])  # its early stopping holds out its own share
    model.fit(train[features], train[label])
    seconds = time.perf_counter() - t0
    pred = model.predict(parts["test"][features])
    truth = parts["test"][label]
    if regression:
        return {"r2": r2_score(truth, pred)}, seconds
    return {"accuracy": accuracy_score(truth, pred), "macro_f1": f1_score(truth, pred, average="macro")}, seconds


FILE_ENDINGS = {"image": ".png", "audio": ".wav"}


def _file_columns(df, column: str, root: Path, kind: str):
    """A file column as its frozen encoder's features, read with the table model's own preprocessing and encoder."""
    import pandas as pd
    import torch

    from lamina.data.table_files import audio_column, file_cell, image_column
    from lamina.models import file_columns

    spec = image_column(column, None, None) if kind == "image" else audio_column(column, 1.0)
    make, installed = file_columns.ENCODERS[kind]
    encoder = make()
    encoder.load(installed())
    encoder.eval()
    values = torch.from_numpy(np.stack([file_cell(spec, p, column, root) for p in df[column]]))
    with torch.no_grad():
        if kind == "image":
            values = file_columns.pictures_from_rows(values, spec["size"])
        feats = torch.cat([encoder(part) for part in values.split(64)]).numpy()
    names = [f"{column}_{i}" for i in range(feats.shape[1])]
    dense = pd.DataFrame(feats, columns=names, index=df.index)
    return pd.concat([df.drop(columns=[column]), dense], axis=1), names


def _tfidf_columns(df, column: str, components: int = 100):
    """The text column as TF-IDF (fit on the train split) reduced by truncated SVD: what boosting can split on."""
    import pandas as pd
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = df[column].fillna("").astype(str)
    tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit(texts[df["split"] == "train"])
    svd = TruncatedSVD(components, random_state=0).fit(tfidf.transform(texts[df["split"] == "train"]))
    names = [f"{column}_{i}" for i in range(components)]
    dense = pd.DataFrame(svd.transform(tfidf.transform(texts)), columns=names, index=df.index)
    return pd.concat([df.drop(columns=[column]), dense], axis=1), names


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", default=",".join(TABLES))
    ap.add_argument("--split-seeds", default="0", help="comma-separated: each table on each split, then the mean")
    ap.add_argument("--set", action="append", default=[], help="a lamina setting for every run (experiments)")
    args = ap.parse_args()
    print("| table | rows | metric | lamina | gradient boosting | lamina s | boosting s |")
    print("|---|---|---|---|---|---|---|")
    gaps = []
    for name in args.tables.split(","):
        results = []
        for seed in map(int, args.split_seeds.split(",")):
            SPLIT_SEED["seed"] = seed
            with tempfile.TemporaryDirectory() as tmp:
                table, label = TABLES[name](Path(tmp))
                rows = sum(1 for _ in open(table)) - 1
                results.append((*lamina_run(table, label, Path(tmp), args.set), *baseline(table, label)))
        for metric in results[0][2]:
            ours, theirs = (float(np.mean([r[i][metric] for r in results])) for i in (0, 2))
            our_s, their_s = (float(np.mean([r[i] for r in results])) for i in (1, 3))
            gaps.append(ours - theirs)
            print(f"| {name} | {rows} | {metric} | {ours:.3f} | {theirs:.3f} | {our_s:.0f} | {their_s:.1f} |")
    print(f"\nmean lamina - boosting over the rows above: {np.mean(gaps):+.3f} (splits {args.split_seeds})")
    print(machine_line())


if __name__ == "__main__":
    main()
