"""Fashion-MNIST: zero-config time to accuracy, and throughput against the baselines.

    .venv/bin/python benchmarks/fashion_mnist.py [--data DIR] [--skip-baselines] [--rounds 8] [--precision fp32]
                                                 [--baselines lightning]

1. `lamina train DATA` with no config, through the CLI, with an empty decode cache: wall
   time from start to a finished run (decode 70,000 PNGs, train, evaluate, export ONNX),
   test accuracy, peak resident memory.
2. On the same prepared tensors, the same model and the same number of epochs: a
   hand-written PyTorch loop in fp32 (what a user writes without lamina: NCHW batches as a
   DataLoader stacks them, and with channels-last tensors) and PyTorch Lightning at
   lamina's precision, each trained in full for its test accuracy. The NCHW fp32 loop runs
   twice: at lamina's batch size, and at batch 128 (lr 3e-3), which is faster for fp32 here.
3. Throughput: the machine's speed drifts by up to 25% within minutes (other tenants), more
   than the differences measured, so samples/s come from ``--rounds`` rounds of one-epoch
   runs of lamina and every baseline back to back, the order reversed every other round.
   Each baseline run is divided into the lamina run of its round; the median of those
   paired ratios is reported, with their range.
``--precision fp32`` runs lamina (zero-config and the rounds) and Lightning in fp32, as on a CPU
without bf16 (most laptops); ``--baselines`` keeps only the baselines whose names contain one of
the given words. The CPU's model and its bf16/AMX/VNNI flags head the output.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
from pathlib import Path

import torch

import lamina
from baselines import handwritten, lightning
from measure import paired_ratios, paired_rounds, zero_config
from lamina.common.config import load_config
from lamina.data.dataset import prepare_training_data
from lamina.datasets.makers import make_fashion_mnist
from lamina.models.registry import TRAIN_DEFAULTS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--data", type=Path, help="an existing Fashion-MNIST folder (default: made from the Debian package)"
    )
    ap.add_argument("--skip-baselines", action="store_true")
    ap.add_argument("--rounds", type=int, default=8, help="rounds of paired one-epoch runs for samples/s")
    ap.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="lamina's train.precision (and Lightning's)",
    )
    ap.add_argument(
        "--baselines", help="comma-separated words: keep only the baselines whose names contain one (e.g. lightning)"
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lamina-fmnist-"))
    data = args.data or make_fashion_mnist(work / "data")["output"]
    print(f"machine: {cpu_line()}, {os.cpu_count()} cores, torch {torch.__version__}\n")
    forced = [] if args.precision == "auto" else [f"train.precision={args.precision}"]
    s = zero_config(Path(data), work, *[a for o in forced for a in ("--set", o)])
    print("| zero-config `lamina train` | wall (s) | epochs | train (s) | samples/s | test accuracy | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|")
    row(s, "fashion-mnist, cold cache")
    if args.skip_baselines:
        return
    cfg = load_config(work / "run" / "config.yaml")  # the resolved defaults: model, epochs, precision
    cfg.train.early_stopping = 0
    prepared = prepare_training_data(cfg.data, cfg.train.seed)
    precision = s["precision"]
    small = TRAIN_DEFAULTS["batch_size"]  # the fp32 loop's faster batch here (benchmarks/DEFAULTS.md), at its lr
    baselines = {
        "hand-written loop, NCHW (as a DataLoader stacks images)": (
            lambda c, d, p: handwritten(c, d, p, channels_last=False),
            "fp32",
        ),
        f"hand-written loop, NCHW, batch {small} at lr {TRAIN_DEFAULTS['lr']:g}": (
            lambda c, d, p: handwritten(at_batch(c, small, TRAIN_DEFAULTS["lr"]), d, p, channels_last=False),
            "fp32",
        ),
        "hand-written loop, channels-last": (handwritten, "fp32"),
        "PyTorch Lightning": (lightning, precision),
    }
    if args.baselines:
        words = [w.strip().lower() for w in args.baselines.split(",")]
        baselines = {k: v for k, v in baselines.items() if any(w in k.lower() for w in words)}
    full = {name: fn(cfg, prepared, prec) for name, (fn, prec) in baselines.items()}  # (samples/s, test accuracy)

    one = cfg.model_copy(deep=True)
    one.train.epochs = 1
    runners = {
        "lamina": lambda: lamina.train(
            str(data), output=work / "round", overwrite=True, overrides=["train.epochs=1", *forced], export_onnx=False
        )["samples_per_s"]
    }
    runners.update(
        {name: (lambda fn=fn, prec=prec: fn(one, prepared, prec)[0]) for name, (fn, prec) in baselines.items()}
    )
    runs = paired_rounds(runners, args.rounds)
    ours = runs["lamina"]
    acc = s["metrics"]["test"]["accuracy"]
    print(
        f"\nSame model ({cfg.model.name}, width {cfg.model.width}), data, augmentation, optimizer, schedule and batch "
        f"({cfg.train.batch_size} at lr {cfg.train.lr:g}) unless the row says otherwise; lamina at its default precision "
        f"({precision}). Test accuracy after {cfg.train.epochs} epochs; samples/s: medians of {args.rounds} rounds "
        "of one-epoch runs, each round lamina and every baseline back to back.\n"
    )
    print(
        "| baseline | precision | baseline test accuracy | lamina test accuracy | baseline samples/s | lamina samples/s | "
        "ratio (median of paired) | paired ratios, min-max |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, (_, prec) in baselines.items():
        mid, lo, hi = paired_ratios(ours, runs[name])
        print(
            f"| {name} | {prec} | {full[name][1]:.4f} | {acc:.4f} | {statistics.median(runs[name]):,.0f} | "
            f"{statistics.median(ours):,.0f} | {mid:.2f} | {lo:.2f}-{hi:.2f} |",
            flush=True,
        )
    print(
        "\nsamples/s of the full-length runs (one each, so with the drift in them): lamina "
        + f"{s['samples_per_s']:,.0f}, "
        + ", ".join(f"{name} {full[name][0]:,.0f}" for name in baselines)
    )


def cpu_line() -> str:
    """The CPU's model name and the flags that decide its precision and speed (bf16, AMX, VNNI, AVX-512)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next(
        (line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
        platform.machine(),
    )
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    shown = [f for f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni", "avx_vnni") if f in flags]
    return f"{name} (flags: {' '.join(shown) or 'no AVX-512, bf16 or AMX'})"


def at_batch(cfg, batch_size: int, lr: float):
    """A copy of ``cfg`` training at another batch size and learning rate."""
    c = cfg.model_copy(deep=True)
    c.train.batch_size, c.train.lr = batch_size, lr
    return c


def row(s: dict, name: str) -> None:
    print(
        f"| {name} | {s['wall_s']:.1f} | {s['epochs']} | {s['train_seconds']:.1f} | {s['samples_per_s']:,.0f} | "
        f"{s['metrics']['test']['accuracy']:.4f} | {s['peak_rss_mb']:,.0f} |",
        flush=True,
    )


if __name__ == "__main__":
    main()
