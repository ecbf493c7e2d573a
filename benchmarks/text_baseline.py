"""Text: lamina's text models next to TF-IDF + logistic regression, on the same split, in the same run.

    .venv/bin/python benchmarks/text_baseline.py [--data FILE.csv] [--models textcnn,fasttext,...] [--seeds 0]

The data defaults to the fortunes set (`lamina datasets make fortunes`, from Debian's
fortunes package). Both sides use lamina's seeded stratified split (80/10/10): the baseline
fits on train, picks its features (word 1-2-grams or character 2-5-grams, sublinear TF) and
C in {1, 10, 100} on val, and is scored on test; each lamina configuration is a full
`lamina train` through the CLI (zero-config first: model.name auto), scored on the same
test rows. Prints accuracy, macro-F1 and wall time for each, and lamina's ratio to the
baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lamina.datasets.makers import make_dataset
from lamina.data.split import assign_splits
from lamina.data.text_data import read_table_samples

CONFIGS = {  # name -> --set overrides
    "auto (zero-config)": [],
    "fasttext": ["model.name=fasttext"],
    "textcnn": ["model.name=textcnn"],
    "minilm frozen": ["model.name=minilm", "model.freeze=true"],
    "minilm fine-tuned 3 epochs": ["model.name=minilm", "model.freeze=false", "train.epochs=3"],
}


def baseline(path: Path, seed: int) -> dict:
    """TF-IDF + logistic regression, features and C chosen on val; scores on test."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    t0 = time.perf_counter()
    table = read_table_samples(path, None, None, skip_bad=False)
    assignment = assign_splits(table.samples, 0.1, 0.1, seed)
    part = {
        name: (
            [table.texts[s.key] for s in table.samples if assignment[s.key] == name],
            [s.label for s in table.samples if assignment[s.key] == name],
        )
        for name in ("train", "val", "test")
    }
    best = None
    for features in ("word 1-2", "char 2-5"):
        for c in (1.0, 10.0, 100.0):
            vec = (
                TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
                if features == "word 1-2"
                else TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
            )
            clf = LogisticRegression(C=c, max_iter=3000).fit(vec.fit_transform(part["train"][0]), part["train"][1])
            val = accuracy_score(part["val"][1], clf.predict(vec.transform(part["val"][0])))
            if best is None or val > best[0]:
                best = (val, features, c, vec, clf)
    _, features, c, vec, clf = best
    pred = clf.predict(vec.transform(part["test"][0]))
    y = part["test"][1]
    return {
        "accuracy": accuracy_score(y, pred),
        "macro_f1": f1_score(y, pred, average="macro"),
        "wall_s": time.perf_counter() - t0,
        "chosen": f"{features}, C={c:g}",
        "n": len(y),
    }


def lamina_run(path: Path, overrides: list[str], seed: int, work: Path) -> dict:
    out = work / f"run-{len(list(work.iterdir()))}"
    cmd = [sys.executable, "-m", "lamina", "train", str(path), "--output", str(out), "--json", "--seed", str(seed)]
    for o in overrides:
        cmd += ["--set", o]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, LAMINA_PLAIN="1"))
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    s = json.loads(proc.stdout)
    return {
        "accuracy": s["metrics"]["test"]["accuracy"],
        "macro_f1": s["metrics"]["test"]["macro_f1"],
        "wall_s": wall,
        "epochs": s["epochs"],
        "samples_per_s": s["samples_per_s"],
        "n": s["metrics"]["test"]["n"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--data", type=Path, help="a labeled text table (default: the fortunes set, made from Debian's fortunes)"
    )
    ap.add_argument("--models", default=",".join(CONFIGS), help=f"comma-separated subset of: {', '.join(CONFIGS)}")
    ap.add_argument("--seeds", default="0", help="comma-separated split/training seeds; figures are means over them")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lamina-text-"))
    data = args.data or Path(make_dataset("fortunes", work / "fortunes.csv")["output"])
    seeds = [int(s) for s in args.seeds.split(",")]
    names = [n.strip() for n in args.models.split(",")]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        sys.exit(f"unknown --models {unknown}; choose from {list(CONFIGS)}")
    runs = work / "runs"
    runs.mkdir()
    # The baseline runs in its own process: scikit-learn's BLAS threads keep spinning after
    # the fit and would slow the lamina runs that follow (measured: 90% of a core).
    base = [
        json.loads(
            subprocess.run(
                [sys.executable, __file__, "--baseline-only", str(data), str(s)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for s in seeds
    ]
    b_acc, b_f1 = np.mean([b["accuracy"] for b in base]), np.mean([b["macro_f1"] for b in base])
    print(f"data: {data} ({base[0]['n']} test rows), seeds {seeds}\n")
    print("| model | test accuracy | macro-F1 | wall (s) | accuracy ratio | macro-F1 ratio |")
    print("|---|---|---|---|---|---|")
    print(
        f"| TF-IDF + logistic regression ({base[0]['chosen']}) | {b_acc:.4f} | {b_f1:.4f} | "
        f"{np.mean([b['wall_s'] for b in base]):.1f} | 1.00 | 1.00 |"
    )
    for name in names:
        rs = [lamina_run(data, CONFIGS[name], s, runs) for s in seeds]
        acc, f1 = np.mean([r["accuracy"] for r in rs]), np.mean([r["macro_f1"] for r in rs])
        print(
            f"| lamina {name} | {acc:.4f} | {f1:.4f} | {np.mean([r['wall_s'] for r in rs]):.1f} | {acc / b_acc:.2f} | {f1 / b_f1:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--baseline-only":
        print(json.dumps(baseline(Path(sys.argv[2]), int(sys.argv[3]))))
    else:
        main()
