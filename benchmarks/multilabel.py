"""Multi-label text: zero-config `lamina train` next to TF-IDF + one-vs-rest logistic regression, same split, same run.

    .venv/bin/python benchmarks/multilabel.py [--set fortunes|debtags] [--pair 0.5] [--seed 0]

The set is composed from the fortunes quotes (`lamina datasets make fortunes`, Debian's
fortunes package, 10 topical categories): with probability --pair a quote is joined with a
quote of another category and carries both labels ("a; b"), else it keeps its one label. A
`split` column (80/10/10, seeded) fixes the split for both sides. The baseline fits TF-IDF
(word 1-2-grams and character 2-5-grams, sublinear TF) + one logistic regression per label,
picks C in {1, 10, 100} on val by micro-F1, then each label's threshold on val (as lamina
does), and is scored on test. Prints micro-F1, macro-F1, mAP and wall time, and the ratio.

`--set debtags` uses real multi-label text instead: the short descriptions of the Debian packages this
machine's apt lists know (`apt-cache dumpavail`), labelled with their debtags (the 40 most frequent tags
outside the facets that name the implementation language, suite, toolkit, ...), split 80/10/10 (seed 0).
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

from measure import zero_config
from lamina.datasets.makers import make_dataset
from lamina.data.task import label_set
from lamina.data.text import read_text_table
from lamina.training.metrics import multilabel_metrics, tune_thresholds


def compose(fortunes: Path, out: Path, pair: float, seed: int) -> Path:
    """fortunes.csv (text,label) -> a multi-label CSV text,labels,split."""
    table = read_text_table(fortunes)
    rng = np.random.default_rng(seed)
    texts, labels = table.texts, table.labels
    rows = []
    for i in rng.permutation(len(texts)):
        text, tags = texts[i], {labels[i]}
        if rng.random() < pair:
            j = int(rng.integers(len(texts)))
            while labels[j] == labels[i]:
                j = int(rng.integers(len(texts)))
            text, tags = f"{text}\n{texts[j]}", tags | {labels[j]}
        u = rng.random()
        rows.append((text, "; ".join(sorted(tags)), "train" if u < 0.8 else "val" if u < 0.9 else "test"))
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "labels", "split"])
        w.writerows(rows)
    return out


DEBTAGS_SKIPPED = (
    "implemented-in::",
    "suite::",
    "special::",
    "uitoolkit::",
    "x11::",
    "made-of::",
    "scope::",
    "sound::",
)


def debtags(out: Path, top: int = 40, seed: int = 0) -> Path:
    """Package descriptions -> their debtags, as a text,labels,split CSV."""
    dump = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, check=True).stdout
    packages = {}
    for block in dump.split("\n\n"):
        fields, key = {}, None
        for line in block.splitlines():
            if line.startswith(" ") and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        tags = {t.strip() for t in fields.get("Tag", "").split(",")} - {""}
        if tags and "Description" in fields and fields.get("Package") not in packages:
            packages[fields["Package"]] = (fields["Description"], tags)
    counts = Counter(
        t
        for _, tags in packages.values()
        for t in tags
        if not t.endswith("::TODO") and not t.startswith(DEBTAGS_SKIPPED)
    )
    keep = {t for t, _ in counts.most_common(top)}
    rng = np.random.default_rng(seed)
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "labels", "split"])
        for text, tags in packages.values():
            if tags & keep:
                u = rng.random()
                w.writerow([text, "; ".join(sorted(tags & keep)), "train" if u < 0.8 else "val" if u < 0.9 else "test"])
    return out


def baseline(path: Path) -> dict:
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer

    t0 = time.perf_counter()
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    split = {s: [r for r in rows if r["split"] == s] for s in ("train", "val", "test")}
    mlb = MultiLabelBinarizer().fit([label_set(r["labels"]) for r in split["train"]])
    y = {s: mlb.transform([label_set(r["labels"]) for r in rs]) for s, rs in split.items()}
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2).fit([r["text"] for r in split["train"]])
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2).fit(
        [r["text"] for r in split["train"]]
    )
    x = {
        s: hstack([words.transform([r["text"] for r in rs]), chars.transform([r["text"] for r in rs])]).tocsr()
        for s, rs in split.items()
    }
    best = None
    for c in (1.0, 10.0, 100.0):
        clf = OneVsRestClassifier(LogisticRegression(C=c, max_iter=2000)).fit(x["train"], y["train"])
        val = clf.predict_proba(x["val"])
        m = multilabel_metrics(y["val"], val, list(mlb.classes_))
        if best is None or m["micro_f1"] > best[0]:
            best = (m["micro_f1"], c, clf, val)
    _, c, clf, val = best
    thresholds = tune_thresholds(val, y["val"])
    m = multilabel_metrics(y["test"], clf.predict_proba(x["test"]), list(mlb.classes_), thresholds)
    return {**m, "C": c, "wall_s": time.perf_counter() - t0}


def lamina_run(data: Path, work: Path) -> dict:
    summary = zero_config(data, work)
    ev = subprocess.run(
        [sys.executable, "-m", "lamina", "evaluate", str(work / "run"), str(data), "--split", "test", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return {**json.loads(ev.stdout), "wall_s": summary["wall_s"], "peak_rss_mb": summary["peak_rss_mb"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", choices=("fortunes", "debtags"), default="fortunes")
    ap.add_argument("--pair", type=float, default=0.5, help="share of quotes joined with one of another category")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lamina-multilabel-"))
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    if args.set == "debtags":
        data = debtags(work / "debtags.csv")
        print(f"machine: {cpu}, {os.cpu_count()} cores; Debian package descriptions and their debtags\n")
    else:
        fortunes = work / "fortunes.csv"
        make_dataset("fortunes", fortunes, seed=0)
        data = compose(fortunes, work / "tags.csv", args.pair, args.seed)
        print(
            f"machine: {cpu}, {os.cpu_count()} cores; fortunes composed: {args.pair:.0%} of quotes joined with one of another "
            f"category (seed {args.seed})\n"
        )
    ours, base = lamina_run(data, work), baseline(data)
    print("| multi-label text (test split) | micro-F1 | macro-F1 | samples-F1 | mAP | subset accuracy | wall (s) |")
    print("|---|---|---|---|---|---|---|")
    for name, m in (
        ("lamina zero-config", ours),
        (f"TF-IDF + one-vs-rest logistic regression (C={base['C']:g})", base),
    ):
        print(
            f"| {name} | {m['micro_f1']:.4f} | {m['macro_f1']:.4f} | {m['samples_f1']:.4f} | {m['mean_average_precision']:.4f} | "
            f"{m['subset_accuracy']:.4f} | {m['wall_s']:.1f} |"
        )
    print(f"\nmicro-F1 ratio lamina / baseline: {ours['micro_f1'] / base['micro_f1']:.3f}; n test = {ours['n']}")


if __name__ == "__main__":
    main()
