"""Start-up time of `lamina --help`, next to the floor of any torch-based CLI (`python -c "import torch"`).

    .venv/bin/python benchmarks/startup.py [--repeats 10]

Each command runs REPEATS times in a fresh process (after one unmeasured run that warms
the page cache); the median wall time is printed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def median_wall(cmd: list[str], repeats: int) -> float:
    subprocess.run(cmd, capture_output=True, check=True)
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    ours = median_wall([sys.executable, "-m", "lamina", "--help"], args.repeats)
    base = median_wall([sys.executable, "-c", "import torch"], args.repeats)
    print("| command | lamina (s, median) | baseline | baseline (s, median) | ratio |")
    print("|---|---|---|---|---|")
    print(f"| `lamina --help` | {ours:.3f} | `python -c 'import torch'` | {base:.3f} | {ours / base:.2f} |")


if __name__ == "__main__":
    main()
