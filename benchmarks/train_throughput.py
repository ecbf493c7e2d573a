"""Training throughput: lamina's engine next to a hand-written PyTorch loop, same model, same data.

    .venv/bin/python benchmarks/train_throughput.py [--epochs 5] [--repeats 6]

Both sides train lamina's default model (resnet-small) on the digits dataset (8x8, and
resized to 28x28 for a compute-bound case), with the same augmentation, optimizer,
schedule, batch size and precision, and both evaluate the validation split after every
epoch. The hand-written loop has no checkpoints, metrics file or progress bar: the ratio
is what lamina's engine costs. Runs alternate (ABBA); each lamina run is divided by the
loop run beside it, and the median of those paired ratios is reported.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import torch

import lamina
from baselines import handwritten
from measure import paired_ratios, paired_rounds
from lamina.common.config import load_config
from lamina.data.dataset import prepare_training_data
from lamina.datasets.makers import make_digits
from lamina.training.engine import resolve_precision
from lamina.training.preparation import fill_inferred


def with_lamina(cfg_dict: dict, out: Path) -> float:
    r = lamina.train(cfg_dict, output=out, overwrite=True)
    return r["samples_per_s"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=6)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lamina-bench-"))
    make_digits(work / "digits")
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print(
        "| data | precision | hand-written loop (samples/s, median) | lamina (samples/s, median) | ratio (median of paired runs) | paired ratios, min-max |"
    )
    print("|---|---|---|---|---|---|")
    for size in (8, 28):
        for precision in ("fp32", "bf16"):
            if precision == "bf16" and resolve_precision("auto", "cpu") != "bf16":
                continue
            cfg_dict = {
                "data": {"path": str(work / "digits"), "image_size": size, "channels": 1},
                "train": {"epochs": args.epochs, "early_stopping": 0, "precision": precision},
            }
            cfg = load_config(cfg_dict)
            data = prepare_training_data(cfg.data, cfg.train.seed)
            cfg = fill_inferred(cfg, data)  # the model, batch size and lr lamina trains with
            handwritten(cfg, data, precision)  # warm-up (allocator, kernels)
            runs = paired_rounds(
                {
                    "loop": lambda: handwritten(cfg, data, precision)[0],
                    "lamina": lambda: with_lamina(cfg_dict, work / "run"),
                },
                args.repeats,
            )
            mid, lo, hi = paired_ratios(runs["lamina"], runs["loop"])
            print(
                f"| digits {size}x{size} | {precision} | {statistics.median(runs['loop']):,.0f} | "
                f"{statistics.median(runs['lamina']):,.0f} | {mid:.3f} | {lo:.3f}-{hi:.3f} |",
                flush=True,
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
