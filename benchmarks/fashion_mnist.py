"""Fashion-MNIST: zero-config time to accuracy, and throughput against the baselines.

    .venv/bin/python benchmarks/fashion_mnist.py [--data DIR] [--skip-baselines]

1. `lamina train DATA` with no config, through the CLI, with an empty decode cache: wall
   time from start to a finished run (decode 70,000 PNGs, train, evaluate, export ONNX),
   test accuracy, peak resident memory.
2. On the same prepared tensors, the same model and the same number of epochs: a
   hand-written PyTorch loop in fp32 (what a user writes without lamina: as is, and with
   channels-last tensors) and PyTorch Lightning at lamina's precision; samples/s and test
   accuracy of each, and lamina's ratio to each. The machine's speed drifts by up to 25%
   over minutes (other tenants), so single rows carry that much noise.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import torch

from baselines import handwritten, lightning
from measure import zero_config
from lamina.common.config import load_config
from lamina.data.dataset import prepare_training_data
from lamina.data.makers import make_fashion_mnist


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, help="an existing Fashion-MNIST folder (default: made from the Debian package)")
    ap.add_argument("--skip-baselines", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lamina-fmnist-"))
    data = args.data or make_fashion_mnist(work / "data")["output"]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}\n")
    s = zero_config(Path(data), work)
    print("| zero-config `lamina train` | wall (s) | epochs | train (s) | samples/s | test accuracy | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|")
    print(f"| fashion-mnist, cold cache | {s['wall_s']:.1f} | {s['epochs']} | {s['train_seconds']:.1f} | {s['samples_per_s']:,.0f} | "
          f"{s['metrics']['test']['accuracy']:.4f} | {s['peak_rss_mb']:,.0f} |", flush=True)
    if args.skip_baselines:
        return
    cfg = load_config(work / "run" / "config.yaml")  # the resolved defaults: model, epochs, precision
    cfg.train.early_stopping = 0
    prepared = prepare_training_data(cfg.data, cfg.train.seed)
    ours = s["samples_per_s"]
    precision = s["precision"]
    print(f"\nSame model ({cfg.model.name}, width {cfg.model.width}), data, augmentation, optimizer, schedule and "
          f"{cfg.train.epochs} epochs; lamina at its default precision ({precision}).\n")
    print("| baseline | precision | baseline samples/s | baseline test accuracy | lamina samples/s | lamina test accuracy | ratio (lamina / baseline) |")
    print("|---|---|---|---|---|---|---|")
    baselines = (
        ("hand-written loop, default memory format (NCHW)", lambda c, d, p: handwritten(c, d, p, channels_last=False), "fp32"),
        ("hand-written loop, channels-last", handwritten, "fp32"),
        ("PyTorch Lightning", lightning, precision),
    )
    for name, fn, prec in baselines:
        rate, acc = fn(cfg, prepared, prec)
        print(f"| {name} | {prec} | {rate:,.0f} | {acc:.4f} | {ours:,.0f} | {s['metrics']['test']['accuracy']:.4f} | {ours / rate:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
