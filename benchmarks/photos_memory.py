"""Resident memory of `lamina train` on growing photo sets: decoded pixels stay in the cache on disk.

    .venv/bin/python benchmarks/photos_memory.py [--sizes 2000,8000,16000]

Generated colour photos (320 x 240 JPEGs: smooth random gradients with noise, 10 classes) are
trained at 224 px (shorter side + centre crop) for one epoch with the `mlp` model, which keeps
the network's own memory fixed, so what grows is the data's. Printed per set size: peak
resident memory (VmHWM, from /usr/bin/time) of lamina as it is (pixels in the memory-mapped
cache, read per batch with pread) and of the same run with `data.cache=false` (every split one
array in RAM: what lamina did for all images before), and the pixel bytes of the set.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def make_photos(root: Path, n: int, seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:240, 0:320].astype(np.float32)
    for i in range(n):
        label = i % 10
        a, b = rng.uniform(-1, 1, 2)
        base = (np.sin((a * xx + b * yy) / (12 + 4 * label)) + 1) * 110
        img = np.stack([base, np.roll(base, 17 * label, 1), base[::-1]], axis=2) + rng.normal(0, 12, (240, 320, 3))
        folder = root / f"c{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"{i:06d}.jpg", quality=85)
    return root


def peak_rss_mb(data: Path, out: Path, cache_dir: Path, extra: list[str]) -> float:
    cmd = [
        "/usr/bin/time",
        "-v",
        sys.executable,
        "-m",
        "lamina",
        "train",
        str(data),
        "--output",
        str(out),
        "--overwrite",
        "--set",
        "model.name=mlp",
        "--set",
        "train.epochs=1",
        "--set",
        "data.image_size=224",
        "--set",
        "data.channels=3",
        "--set",
        "data.image_fit=crop",
        *extra,
    ]
    r = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env={"LAMINA_CACHE_DIR": str(cache_dir), "PATH": "/usr/bin:/bin", "LAMINA_PLAIN": "1"},
    )
    if r.returncode:
        raise SystemExit(r.stderr[-3000:])
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2000,8000,16000")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lamina-photo-memory-"))
    print("| photos | pixel bytes at 224 px (MB) | lamina peak RSS (MB) | all pixels in RAM, data.cache=false (MB) |")
    print("|---|---|---|---|")
    for n in map(int, args.sizes.split(",")):
        data = make_photos(root / f"set{n}", n)
        cached = peak_rss_mb(data, root / f"run{n}", root / f"cache{n}", [])
        in_ram = peak_rss_mb(data, root / f"run{n}-ram", root / f"cache{n}-ram", ["--set", "data.cache=false"])
        print(f"| {n:,} | {n * 224 * 224 * 3 / 2**20:,.0f} | {cached:,.0f} | {in_ram:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
