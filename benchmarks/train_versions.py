"""Training throughput of this tree next to an earlier checkout's: the same zero-config-sized runs, paired rounds.

    .venv/bin/python benchmarks/train_versions.py --baseline-src /tmp/old/src [--rounds 4]

Make the baseline with `git worktree add /tmp/old <commit>`. Each round trains with each tree, back to back and in
the other order every other round: resnet-small on the digits (28 px, 12 epochs: the image path, channels-last
batches) and fasttext on the fortunes quotes (12 epochs: token ids, batches trimmed to their longest text). The
figure is the run summary's training samples/s; printed per tree as the median of its rounds, with the median of
paired ratios (this tree / baseline).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import paired_ratios, paired_rounds, zero_config  # noqa: E402

HERE_SRC = Path(__file__).resolve().parents[1] / "src"
CASES = {
    "digits resnet-small": ("digits", ["--set", "data.image_size=28", "--set", "model.name=resnet-small"]),
    "fortunes fasttext": ("fortunes.csv", ["--set", "model.name=fasttext"]),
}


def runner(src: Path, data: Path, options: list[str], work: Path, name: str):
    """A no-argument run of one tree on one case, into a fresh run directory (and decode cache) each time."""
    rounds = iter(range(1_000))

    def run() -> float:
        os.environ["PYTHONPATH"] = str(src)  # the tree whose lamina trains (zero_config's child inherits it)
        out = f"{name}-{data.stem}-{next(rounds)}"
        summary = zero_config(data, work, "--set", "train.epochs=12", *options, name=out)
        return float(summary["samples_per_s"])

    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline-src", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    from lamina.datasets.makers import make_digits, make_fortunes

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_digits(work / "digits")
        make_fortunes(work / "fortunes.csv")
        print(f"| case | this tree (samples/s) | baseline | ratio (median, min-max of {args.rounds} paired rounds) |")
        print("|---|---|---|---|")
        for case, (data, options) in CASES.items():
            rates = paired_rounds(
                {
                    "this": runner(HERE_SRC, work / data, options, work, "this"),
                    "base": runner(args.baseline_src, work / data, options, work, "base"),
                },
                args.rounds,
            )
            mid, lo, hi = paired_ratios(rates["this"], rates["base"])
            print(
                f"| {case} | {statistics.median(rates['this']):.0f} | {statistics.median(rates['base']):.0f} "
                f"| {mid:.3f} ({lo:.3f}-{hi:.3f}) |"
            )
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")


if __name__ == "__main__":
    main()
