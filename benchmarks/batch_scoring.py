"""Batch scoring: `lamina predict RUN FOLDER --output preds.csv` next to a hand-written ONNX Runtime loop over the
same folder, in the same run: files/s and peak resident memory, at two folder sizes (memory must not grow with it).

    .venv/bin/python benchmarks/batch_scoring.py [--sizes 10000,100000] [--data photos]

The folder holds hard links to the images of a dataset (digits: 8x8 PNGs; photos: 2,000 320x240 JPEGs of
benchmarks/photos_memory.py, read at the model's size), spread over 100 sub-folders, so 100,000 inputs
cost no disk. The model is a zero-config run on that dataset (photos: resnet-small, so decoding is the work). The hand-written loop is what a user would
write with Pillow and onnxruntime: walk the folder sorted, decode and resize each file, run batches of 64,
write "path,label" lines. Both run as their own process; peak RSS is that of the process and its children.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import zero_config

HANDWRITTEN = r"""
import json, os, sys, numpy as np, onnxruntime as ort
from PIL import Image
run, folder, out = sys.argv[1:4]
meta = json.load(open(os.path.join(run, "model", "lamina.json")))
pre, exp = meta["preprocessing"], meta["export"]
session = ort.InferenceSession(os.path.join(run, "model", "model.onnx"), providers=["CPUExecutionProvider"])
size, mode = pre["size"], "L" if pre["channels"] == 1 else "RGB"
paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs)
with open(out, "w") as w:
    for i in range(0, len(paths), 64):
        chunk = paths[i:i + 64]
        x = np.stack([np.asarray(Image.open(p).convert(mode).resize((size, size)), dtype=np.uint8).reshape(size, size, -1) for p in chunk])
        probs = session.run([exp["output"]["name"]], {exp["input"]["name"]: x})[0]
        w.writelines(f"{p},{meta['labels'][k]}\n" for p, k in zip(chunk, probs.argmax(1)))
"""


def link_folder(src: Path, dest: Path, n: int) -> Path:
    files = sorted(p for p in src.rglob("*") if p.suffix.lower() in (".png", ".jpg"))
    for i in range(n):
        sub = dest / f"d{i % 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        os.link(files[i % len(files)], sub / f"{i:06d}{files[i % len(files)].suffix}")
    return dest


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (batch scoring decodes in worker processes)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")) / 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            pass
    return total


def measured(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak resident MB of the process tree, polled every 20 ms). Not wait4's ru_maxrss: a child's
    starts at this (larger) process's RSS at fork, and it would leave out the decoding processes."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, tree_rss_mb(proc.pid))
        time.sleep(0.02)
    if proc.returncode != 0:
        sys.exit(f"{cmd[:4]} failed: {proc.stderr.read().decode()[-2000:]}")
    return time.perf_counter() - t0, peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--data", choices=("digits", "photos"), default="digits")
    a = ap.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    with tempfile.TemporaryDirectory(prefix="lamina-batch-") as tmp:
        root = Path(tmp)
        if a.data == "digits":
            from lamina.datasets.makers import make_digits

            data = root / "data"
            make_digits(data)
        else:
            from photos_memory import make_photos

            data = make_photos(root / "data", 2000)
        # photos: resnet-small (a model whose graph costs little next to decoding a 320x240 JPEG), not the backbone
        zero_config(data, root, *(["--set", "model.name=resnet-small"] if a.data == "photos" else []))
        print(f"CPU: {cpu}, {os.cpu_count()} cores; data: {a.data}\n")
        print(
            "| inputs | lamina files/s | hand-written ORT files/s | ratio | lamina peak RSS (MB) | hand-written peak RSS (MB) |"
        )
        print("|---|---|---|---|---|---|")
        for n in map(int, a.sizes.split(",")):
            folder = link_folder(data, root / f"in{n}", n)
            lw, lr = measured(
                [
                    sys.executable,
                    "-m",
                    "lamina",
                    "predict",
                    str(root / "run"),
                    str(folder),
                    "--output",
                    str(root / f"lamina{n}.csv"),
                    "--json",
                ]
            )
            hw, hr = measured(
                [sys.executable, "-c", HANDWRITTEN, str(root / "run"), str(folder), str(root / f"hand{n}.csv")]
            )
            rows = sum(1 for _ in open(root / f"lamina{n}.csv")) - 1
            assert rows == n, f"lamina wrote {rows} rows for {n} inputs"
            print(f"| {n:,} | {n / lw:,.0f} | {n / hw:,.0f} | {hw / lw:.2f} | {lr:,.0f} | {hr:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
