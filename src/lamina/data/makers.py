"""`lamina datasets make NAME --output DIR`: bundled or system datasets written in lamina's layouts."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from lamina.common.errors import LaminaError


def _prepare_output(output: Path, overwrite: bool) -> None:
    if output.exists() and any(output.iterdir()):
        if not overwrite:
            raise LaminaError(f"--output {output}: already exists and is not empty. Choose another path or pass --overwrite.")
        import shutil

        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)


def make_digits(output: Path, seed: int = 0, overwrite: bool = False) -> dict:
    """scikit-learn's 8x8 digits (1,797 images, 10 classes) as PNG split folders.

    Writes ``output/{train,test}/<digit>/<index>.png``: a stratified 80/20 split by ``seed``.
    Pixel values 0..16 are scaled to 0..255.
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    _prepare_output(output, overwrite)
    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # (N, 8, 8)
    rng = np.random.default_rng(seed)
    split = np.empty(len(images), dtype=object)
    for label in np.unique(bunch.target):
        idx = rng.permutation(np.flatnonzero(bunch.target == label))
        n_test = int(round(0.2 * len(idx)))
        split[idx[:n_test]] = "test"
        split[idx[n_test:]] = "train"
    counts: dict[str, int] = {"train": 0, "test": 0}
    for i, (img, label) in enumerate(zip(images, bunch.target)):
        folder = output / split[i] / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img, mode="L").save(folder / f"{i:04d}.png")
        counts[split[i]] += 1
    return {"dataset": "digits", "output": str(output), "counts": counts, "labels": [str(x) for x in range(10)]}


DATASETS: dict[str, Callable[..., dict]] = {"digits": make_digits}


def make_dataset(name: str, output: str | Path, seed: int = 0, overwrite: bool = False) -> dict:
    """Write dataset ``name`` to ``output``; returns a summary (counts per split)."""
    from lamina.common.errors import did_you_mean

    if name not in DATASETS:
        raise LaminaError(f"datasets make: unknown dataset '{name}'{did_you_mean(name, DATASETS)}; available: {', '.join(sorted(DATASETS))}")
    return DATASETS[name](Path(output), seed=seed, overwrite=overwrite)
