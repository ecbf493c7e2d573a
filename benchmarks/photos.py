"""Photos with few labels: zero-config lamina next to resnet-small from scratch and frozen
EfficientNet-Lite0 features + logistic regression, on the same split, in the same run.

    .venv/bin/python benchmarks/photos.py [--sets emoji-20,emoji,fashion-50,emoji-wide] [--seed 0]

Dev sets made offline (never tuned to; lamina is judged on photo sets it has not seen):
  emoji       Noto Color Emoji glyphs by Unicode group (`lamina datasets make emoji`): 9 classes, ~3,650 RGBA images
  emoji-20    20 per group, seeded (few-shot)
  fashion-50  50 Fashion-MNIST images per class (Debian's dataset-fashion-mnist): small grayscale, the other kind
  emoji-wide  emoji, 40 per group, each glyph at a random place on a white 3:1 banner: pictures far from square,
              whose object a centre crop often cuts (the case image_fit: pad is for)
Each lamina configuration is a full `lamina train` through the CLI (wall time includes start-up,
decoding and the final evaluation). The baseline uses the test/train rows of lamina's own
split (the run's data.json), the same backbone weights, the same resize-and-crop at 224 px,
fp32 features, and scikit-learn's LogisticRegression (C chosen on val from 0.1, 1, 10).
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

CONFIGS = {  # label: (run folder, options)
    "lamina zero-config": ("lamina", []),
    "resnet-small from scratch": ("resnet", ["--set", "model.name=resnet-small"]),
    "lamina, image_fit: pad": ("lamina-pad", ["--set", "data.image_fit=pad"]),
}


def make_set(name: str, root: Path, seed: int) -> Path:
    from lamina.datasets.emoji import make_emoji
    from lamina.datasets.makers import make_fashion_mnist

    out = root / name
    if name == "emoji":
        make_emoji(out, seed=seed)
    elif name == "emoji-20":
        make_emoji(out, seed=seed, per_class=20)
    elif name == "emoji-wide":
        make_emoji(out, seed=seed, per_class=40)
        _on_banners(out, np.random.default_rng(seed))
    elif name == "fashion-50":
        full = root / "fashion-full"
        make_fashion_mnist(full, seed=seed)
        rng = np.random.default_rng(seed)
        for cls in sorted(p.name for p in (full / "train").iterdir()):
            files = sorted((full / "train" / cls).glob("*.png"))
            (out / cls).mkdir(parents=True)
            for f in rng.choice(files, 50, replace=False):
                os.link(f, out / cls / f.name)
    else:
        raise SystemExit(f"unknown set {name}")
    return out


def _on_banners(root: Path, rng: np.random.Generator) -> None:
    """Each glyph under ``root`` moved to a random place on a white banner three times as wide as it is high."""
    from PIL import Image

    for path in sorted(root.rglob("*.png")):
        with Image.open(path) as glyph:
            glyph = glyph.convert("RGBA")
        side = max(glyph.size)
        banner = Image.new("RGBA", (3 * side, side), (255, 255, 255, 255))
        banner.alpha_composite(glyph, (int(rng.integers(0, 2 * side + 1)), (side - glyph.height) // 2))
        banner.save(path)


def train(data: Path, out: Path, extra: list[str], seed: int) -> dict:
    t0 = time.perf_counter()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "lamina",
            "train",
            str(data),
            "--output",
            str(out),
            "--json",
            "--seed",
            str(seed),
            *extra,
        ],
        capture_output=True,
        text=True,
    )
    if r.returncode:
        raise SystemExit(r.stderr[-2000:])
    summary = json.loads(r.stdout)
    cfg = (out / "config.yaml").read_text()
    model = next(line.split(":", 1)[1].strip() for line in cfg.splitlines() if line.strip().startswith("name:"))
    return {"accuracy": summary["metrics"]["test"]["accuracy"], "wall": time.perf_counter() - t0, "model": model}


def frozen_logreg(data: Path, run: Path) -> dict:
    """EfficientNet-Lite0 features (fp32) + logistic regression on the run's own split."""
    import torch
    from sklearn.linear_model import LogisticRegression

    from lamina.data.image import ImagePreprocess, load_image
    from lamina.models.efficientnet import default_folder, imagenet_classifier

    t0 = time.perf_counter()
    splits = json.loads((run / "data.json").read_text())["splits"]
    backbone, _ = imagenet_classifier(default_folder())
    fit = json.loads((run / "model" / "lamina.json").read_text())["preprocessing"]["fit"]
    prep = ImagePreprocess(224, 3, fit=fit)  # the baseline sees the pictures as the run it is compared with did

    def features(keys):
        out = []
        for i in range(0, len(keys), 64):
            x = np.stack([load_image(data / k, prep) for k in keys[i : i + 64]])
            x = torch.from_numpy(x).permute(0, 3, 1, 2).float()
            with torch.no_grad():
                out.append(backbone.features((x - 127.5) / 127.5).numpy())
        return np.concatenate(out), [k.split("/")[0] for k in keys]

    part = {name: features(keys) for name, keys in splits.items()}
    best = None
    for c in (0.1, 1.0, 10.0):
        clf = LogisticRegression(C=c, max_iter=5000).fit(*part["train"])
        val = clf.score(*part["val"])
        if best is None or val > best[0]:
            best = (val, clf)
    return {
        "accuracy": best[1].score(*part["test"]),
        "wall": time.perf_counter() - t0,
        "model": "efficientnet-lite0 + logreg",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="emoji-20,emoji,fashion-50,emoji-wide")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lamina-photos-"))
    print("| set | images | configuration | model | test accuracy | wall (s) |")
    print("|---|---|---|---|---|---|")
    for name in args.sets.split(","):
        data = make_set(name, root, args.seed)
        n = sum(1 for _ in data.rglob("*.png"))
        runs = {}
        for label, (folder, extra) in CONFIGS.items():
            runs[label] = train(data, root / f"{name}-{folder}", extra, args.seed)
        if runs["lamina zero-config"]["model"] != "efficientnet-lite0":  # what the backbone would have done here
            runs["efficientnet-lite0 (frozen), chosen by hand"] = train(
                data, root / f"{name}-backbone", ["--set", "model.name=efficientnet-lite0"], args.seed
            )
        runs["frozen features + logistic regression"] = frozen_logreg(data, root / f"{name}-lamina")
        runs["frozen features + logistic regression, pad"] = frozen_logreg(data, root / f"{name}-lamina-pad")
        for label, r in runs.items():
            print(f"| {name} | {n:,} | {label} | {r['model']} | {r['accuracy']:.4f} | {r['wall']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
