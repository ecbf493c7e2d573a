"""Shared fixtures: a private cache directory, the digits dataset, small image folders."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

# Every test run gets its own decoded-data cache, so tests never read a developer's cache.
os.environ.setdefault("LAMINA_CACHE_DIR", tempfile.mkdtemp(prefix="lamina-test-cache-"))
os.environ["LAMINA_PLAIN"] = "1"


def write_png(path: Path, array: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def make_image_folders(root: Path, classes=("a", "b"), per_class: int = 6, size: int = 8, seed: int = 0, rgb: bool = False) -> Path:
    """Class folders of random but class-dependent PNGs (class i is brighter on row i)."""
    rng = np.random.default_rng(seed)
    for ci, name in enumerate(classes):
        for j in range(per_class):
            shape = (size, size, 3) if rgb else (size, size)
            img = rng.integers(0, 60, shape, dtype=np.uint8)
            img[ci % size] = 250
            write_png(root / name / f"{j:03d}.png", img)
    return root


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> Path:
    from lamina.data.makers import make_digits

    out = tmp_path_factory.mktemp("data") / "digits"
    make_digits(out)
    return out


@pytest.fixture
def small_folders(tmp_path) -> Path:
    return make_image_folders(tmp_path / "imgs")


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real `lamina` entry point in a subprocess."""
    return subprocess.run([sys.executable, "-m", "lamina", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)
