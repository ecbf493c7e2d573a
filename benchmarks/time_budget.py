"""Zero-config on a slower CPU: does train.time_budget keep Fashion-MNIST within its 5 minutes, at what accuracy?

    .venv/bin/python benchmarks/time_budget.py [--data DIR] [--threads 1] [--budget 270] [--skip-unlimited]

An fp32-only laptop CPU cannot be summoned, so it is stood in for by this CPU in fp32 with fewer
threads (``--threads``, default 1 of the 2) and, where that is still faster than the slow machine,
a smaller ``--budget`` in the same proportion (the Ice Lake report: about 310 s of training for the
10 auto epochs against the 270 s budget). Three zero-config runs (`lamina train DATA`, empty decode
cache, through the CLI), one after the other:

1. fp32 on all threads with the default budget: this CPU without bf16 (the budget should change nothing);
2. fp32 on ``--threads`` threads with ``--budget``: the probe should cut the epochs;
3. the same with ``train.time_budget=null``: what the full auto epochs cost and give there.

For each: the epochs the probe chose, its estimate of an epoch's seconds against the epochs' actual
mean (train seconds / epochs), training seconds, wall seconds and test accuracy.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

import torch

from fashion_mnist import cpu_line
from lamina.datasets.makers import make_fashion_mnist
from measure import zero_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data", type=Path, help="an existing Fashion-MNIST folder (default: made from the Debian package)"
    )
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the slower stand-in (default 1)")
    ap.add_argument("--budget", type=float, default=270.0, help="train.time_budget of run 2 (default 270, the default)")
    ap.add_argument(
        "--skip-unlimited", action="store_true", help="skip run 3 (the full auto epochs at the slower speed)"
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lamina-budget-"))
    data = args.data
    if data is None:
        make_fashion_mnist(work / "fashion")
        data = work / "fashion"
    runs = {
        "fp32, all threads": ["train.precision=fp32"],
        f"fp32, {args.threads} thread(s), time_budget {args.budget:g}": [
            "train.precision=fp32",
            f"train.num_threads={args.threads}",
            f"train.time_budget={args.budget:g}",
        ],
    }
    if not args.skip_unlimited:
        runs[f"fp32, {args.threads} thread(s), time_budget null"] = [
            "train.precision=fp32",
            f"train.num_threads={args.threads}",
            "train.time_budget=null",
        ]
    print(f"{cpu_line()}; torch {torch.__version__}, python {platform.python_version()}\n")
    print("| run | epochs (auto) | probe: s per epoch | actual: s per epoch | train (s) | wall (s) | test accuracy |")
    print("|---|---|---|---|---|---|---|")
    for i, (name, overrides) in enumerate(runs.items()):
        s = zero_config(Path(data), work, *[a for o in overrides for a in ("--set", o)], name=f"run{i}")
        probe = json.loads((work / f"run{i}" / "run.json").read_text()).get("epoch_budget") or {}
        print(
            f"| {name} | {s['epochs']} ({probe.get('auto_epochs', '-')}) | {probe.get('epoch_seconds', '-')} | "
            f"{s['train_seconds'] / s['epochs']:.1f} | {s['train_seconds']:.1f} | {s['wall_s']:.1f} | "
            f"{s['metrics']['test']['accuracy']:.4f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
