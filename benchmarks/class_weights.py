"""Class weights on imbalanced training sets: `train.class_weights` none against auto, zero-config otherwise, same run.

    .venv/bin/python benchmarks/class_weights.py [--ratio 20] [--seeds 0,1]

Two sets made imbalanced in train only (class k keeps ratio ** (-k / (K - 1)) of its training
samples, so the largest class has --ratio times the smallest), scored on their untouched,
balanced test splits: scikit-learn's digits (`lamina datasets make digits`) and the fortunes
quotes (Debian's fortunes, 10 categories; test = 10% of each category, seeded). Prints test
accuracy and macro-F1 for each setting and seed: the decision for the default.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from measure import zero_config
from lamina.datasets.makers import make_dataset
from lamina.data.text import read_text_table


def keep_fraction(k: int, n_classes: int, ratio: float) -> float:
    return ratio ** (-k / max(1, n_classes - 1))


def imbalanced_digits(work: Path, ratio: float, seed: int) -> Path:
    src = work / "digits"
    if not src.exists():
        make_dataset("digits", src, seed=0)
    out = work / f"digits-{ratio:g}-{seed}"
    rng = np.random.default_rng(seed)
    classes = sorted(p.name for p in (src / "train").iterdir())
    for k, name in enumerate(classes):
        files = sorted((src / "train" / name).iterdir())
        keep = rng.permutation(len(files))[: max(2, round(len(files) * keep_fraction(k, len(classes), ratio)))]
        (out / "train" / name).mkdir(parents=True)
        for i in keep:
            shutil.copy(files[i], out / "train" / name / files[i].name)
        shutil.copytree(src / "test" / name, out / "test" / name)
    return out


def imbalanced_fortunes(work: Path, ratio: float, seed: int) -> Path:
    src = work / "fortunes.csv"
    if not src.exists():
        make_dataset("fortunes", src, seed=0)
    table = read_text_table(src)
    rng = np.random.default_rng(seed)
    classes = sorted(set(table.labels))
    rows = []
    for k, name in enumerate(classes):
        idx = rng.permutation([i for i, label in enumerate(table.labels) if label == name])
        n_test = len(idx) // 10
        rows += [(table.texts[i], name, "test") for i in idx[:n_test]]
        rest = idx[n_test:]
        rows += [
            (table.texts[i], name, "train")
            for i in rest[: max(2, round(len(rest) * keep_fraction(k, len(classes), ratio)))]
        ]
    out = work / f"fortunes-{ratio:g}-{seed}.csv"
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label", "split"])
        w.writerows(rows)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ratio", type=float, default=20.0, help="largest / smallest training class")
    ap.add_argument("--seeds", default="0,1")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lamina-weights-"))
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"machine: {cpu}, {os.cpu_count()} cores; train imbalanced {args.ratio:g}:1, test balanced\n")
    print("| set | seed | class_weights | test accuracy | test macro-F1 | wall (s) |\n|---|---|---|---|---|---|")
    for name, build in (("digits", imbalanced_digits), ("fortunes", imbalanced_fortunes)):
        for seed in (int(s) for s in args.seeds.split(",")):
            data = build(work, args.ratio, seed)
            for setting in ("none", "auto"):
                s = zero_config(
                    data,
                    work,
                    "--set",
                    f"train.class_weights={setting}",
                    "--seed",
                    str(seed),
                    name=f"{name}-{seed}-{setting}",
                )
                t = s["metrics"]["test"]
                print(
                    f"| {name} | {seed} | {setting} | {t['accuracy']:.4f} | {t['macro_f1']:.4f} | {s['wall_s']:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
