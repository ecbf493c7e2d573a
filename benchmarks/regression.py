"""Image regression: zero-config `lamina train` next to ridge regression on raw pixels, same split, same run.

    .venv/bin/python benchmarks/regression.py [--per-class 600] [--seed 0]

The set is composed from Fashion-MNIST (Debian's dataset-fashion-mnist, via `lamina datasets
make fashion-mnist`): each of --per-class training images per class is rotated by a random
angle in [-60, 60] degrees (bilinear, black corners), and the angle is the target; a
manifest `path,target,split` (80/10/10, seeded) fixes the split for both sides. The baseline
is ridge regression on the raw pixels scaled to [0, 1], alpha in {0.1, 1, 10, 100, 1000}
picked on val. Prints MAE, RMSE and R2 on test, wall time, and the MAE ratio.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from measure import zero_config
from lamina.datasets.makers import make_dataset
from lamina.training.metrics import regression_metrics

MAX_ANGLE = 60.0


def compose(fashion: Path, out: Path, per_class: int, seed: int) -> Path:
    """Rotated copies of Fashion-MNIST training images and a manifest path,target,split."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for cls in sorted(p for p in (fashion / "train").iterdir() if p.is_dir()):
        for src in sorted(cls.iterdir())[:per_class]:
            angle = float(rng.uniform(-MAX_ANGLE, MAX_ANGLE))
            name = f"{cls.name}-{src.stem}.png"
            Image.open(src).rotate(angle, resample=Image.BILINEAR).save(out / name)
            u = rng.random()
            rows.append((name, f"{angle:.3f}", "train" if u < 0.8 else "val" if u < 0.9 else "test"))
    manifest = out / "angles.csv"
    with manifest.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "target", "split"])
        w.writerows(rows)
    return manifest


def baseline(manifest: Path) -> dict:
    from PIL import Image
    from sklearn.linear_model import Ridge

    t0 = time.perf_counter()
    with manifest.open() as f:
        rows = list(csv.DictReader(f))
    data = {}
    for s in ("train", "val", "test"):
        part = [r for r in rows if r["split"] == s]
        x = np.stack(
            [np.asarray(Image.open(manifest.parent / r["path"]), dtype=np.float32).ravel() / 255 for r in part]
        )
        data[s] = (x, np.array([float(r["target"]) for r in part]))
    best = min(
        (
            (regression_metrics(data["val"][1], Ridge(alpha=a).fit(*data["train"]).predict(data["val"][0]))["mae"], a)
            for a in (0.1, 1.0, 10.0, 100.0, 1000.0)
        )
    )
    model = Ridge(alpha=best[1]).fit(*data["train"])
    return {
        **regression_metrics(data["test"][1], model.predict(data["test"][0])),
        "alpha": best[1],
        "wall_s": time.perf_counter() - t0,
    }


def lamina_run(manifest: Path, work: Path) -> dict:
    summary = zero_config(manifest, work)
    model = next(
        line.split(":", 1)[1].strip()
        for line in (work / "run" / "config.yaml").read_text().splitlines()
        if line.startswith("  name:")
    )
    return {**summary["metrics"]["test"], "wall_s": summary["wall_s"], "model": model, "epochs": summary["epochs"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=600, help="Fashion-MNIST training images per class to rotate")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lamina-regression-"))
    make_dataset("fashion-mnist", work / "fashion", seed=0)
    manifest = compose(work / "fashion", work / "rotated", args.per_class, args.seed)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(
        f"machine: {cpu}, {os.cpu_count()} cores; {10 * args.per_class} Fashion-MNIST images rotated by U(-{MAX_ANGLE:g}, "
        f"{MAX_ANGLE:g}) degrees, the angle is the target\n"
    )
    ours, base = lamina_run(manifest, work), baseline(manifest)
    print("| image regression (test split) | MAE (degrees) | RMSE | R2 | wall (s) |")
    print("|---|---|---|---|---|")
    print(
        f"| lamina zero-config ({ours['model']}, {ours['epochs']} epochs) | {ours['mae']:.2f} | {ours['rmse']:.2f} | {ours['r2']:.4f} | "
        f"{ours['wall_s']:.1f} |"
    )
    print(
        f"| ridge regression on raw pixels (alpha={base['alpha']:g}) | {base['mae']:.2f} | {base['rmse']:.2f} | {base['r2']:.4f} | "
        f"{base['wall_s']:.1f} |"
    )
    print(f"\nMAE ratio lamina / ridge: {ours['mae'] / base['mae']:.3f} (the goal: at most 0.5); n test = {ours['n']}")


if __name__ == "__main__":
    main()
