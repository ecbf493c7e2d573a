"""Photos with few labels: zero-config lamina next to resnet-small from scratch and frozen
EfficientNet-Lite0 features + logistic regression, on the same split, in the same run.

    .venv/bin/python benchmarks/photos.py [--sets emoji-20,emoji,fashion-50,emoji-wide] [--seed 0] [--rest]

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

The small sets' test splits are small (18 and 50 pictures: one picture moves emoji-20 by 5.6 points). With --rest,
every model is also scored on the pictures of the same kind the set did not draw: emoji-20 on the other ~3,470
glyphs, fashion-50 on 100 per class of Fashion-MNIST's official test split; a change that matters shows there.
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
from measure import evaluate

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


def rest_of_pool(name: str, data: Path, root: Path, seed: int) -> Path | None:
    """Labelled pictures of the same kind that ``data`` (a small set made by make_set) did not draw; None for the rest."""
    import hashlib

    from lamina.datasets.emoji import make_emoji

    out = root / f"{name}-rest"
    if name == "emoji-20":
        pool = root / "emoji-pool"
        if not pool.exists():
            make_emoji(pool, seed=seed)
        drawn = {hashlib.sha256(f.read_bytes()).digest() for f in data.rglob("*.png")}
        for f in sorted(pool.rglob("*.png")):
            if hashlib.sha256(f.read_bytes()).digest() not in drawn:
                (out / f.parent.name).mkdir(parents=True, exist_ok=True)
                os.link(f, out / f.parent.name / f.name)
    elif name == "fashion-50":  # make_set drew from the official training split: its test split is all unseen
        rng = np.random.default_rng(seed)
        for folder in sorted((root / "fashion-full" / "test").iterdir()):
            (out / folder.name).mkdir(parents=True)
            for f in rng.choice(sorted(folder.glob("*.png")), 100, replace=False):
                os.link(f, out / folder.name / f.name)
    else:
        return None
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


def frozen_logreg(data: Path, run: Path, rest: Path | None = None) -> dict:
    """EfficientNet-Lite0 features (fp32) + logistic regression on the run's own split (and scored on ``rest``)."""
    import torch
    from sklearn.linear_model import LogisticRegression

    from lamina.data.image import ImagePreprocess, load_image
    from lamina.models.efficientnet import default_folder, imagenet_classifier

    t0 = time.perf_counter()
    splits = json.loads((run / "data.json").read_text())["splits"]
    backbone, _ = imagenet_classifier(default_folder())
    fit = json.loads((run / "model" / "lamina.json").read_text())["preprocessing"]["fit"]
    prep = ImagePreprocess(224, 3, fit=fit)  # the baseline sees the pictures as the run it is compared with did

    def features(keys, folder=data):
        out = []
        for i in range(0, len(keys), 64):
            x = np.stack([load_image(folder / k, prep) for k in keys[i : i + 64]])
            x = torch.from_numpy(x).permute(0, 3, 1, 2).float()
            with torch.no_grad():
                out.append(backbone.pooled((x - 127.5) / 127.5).numpy())
        return np.concatenate(out), [k.split("/")[0] for k in keys]

    part = {name: features(keys) for name, keys in splits.items()}
    best = None
    for c in (0.1, 1.0, 10.0):
        clf = LogisticRegression(C=c, max_iter=5000).fit(*part["train"])
        val = clf.score(*part["val"])
        if best is None or val > best[0]:
            best = (val, clf)
    found = {
        "accuracy": best[1].score(*part["test"]),
        "wall": time.perf_counter() - t0,
        "model": "efficientnet-lite0 + logreg",
    }
    if rest is not None:
        found["rest"] = best[1].score(*features(sorted(str(f.relative_to(rest)) for f in rest.rglob("*.png")), rest))
    return found


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="emoji-20,emoji,fashion-50,emoji-wide")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rest", action="store_true", help="also score on the pictures the small sets did not draw")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lamina-photos-"))
    print("| set | images | configuration | model | test accuracy | wall (s) | accuracy on the rest (pictures) |")
    print("|---|---|---|---|---|---|---|")
    for name in args.sets.split(","):
        data = make_set(name, root, args.seed)
        rest = rest_of_pool(name, data, root, args.seed) if args.rest else None
        n = sum(1 for _ in data.rglob("*.png"))
        runs = {}
        for label, (folder, extra) in CONFIGS.items():
            runs[label] = train(data, root / f"{name}-{folder}", extra, args.seed)
        if runs["lamina zero-config"]["model"] != "efficientnet-lite0":  # what the backbone would have done here
            runs["efficientnet-lite0 (frozen), chosen by hand"] = train(
                data, root / f"{name}-backbone", ["--set", "model.name=efficientnet-lite0"], args.seed
            )
        if rest is not None:
            for label, (folder, _) in [
                *CONFIGS.items(),
                ("efficientnet-lite0 (frozen), chosen by hand", ("backbone", 0)),
            ]:
                if label in runs:
                    runs[label]["rest"] = evaluate(root / f"{name}-{folder}", rest)
        runs["frozen features + logistic regression"] = frozen_logreg(data, root / f"{name}-lamina", rest)
        runs["frozen features + logistic regression, pad"] = frozen_logreg(data, root / f"{name}-lamina-pad", rest)
        size = f" ({sum(1 for _ in rest.rglob('*.png')):,})" if rest is not None else ""
        for label, r in runs.items():
            on_rest = f"{r['rest']:.4f}{size}" if "rest" in r else "-"
            print(
                f"| {name} | {n:,} | {label} | {r['model']} | {r['accuracy']:.4f} | {r['wall']:.1f} | {on_rest} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
