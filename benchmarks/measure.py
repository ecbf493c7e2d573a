"""Shared by the benchmark scripts: one zero-config `lamina train` through the CLI, measured; paired rounds of runs."""

from __future__ import annotations

import json
import statistics
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def zero_config(data: Path, work: Path) -> dict:
    """`lamina train DATA` with no config and an empty decode cache: the run summary plus wall_s and peak_rss_mb."""
    env = dict(os.environ, LAMINA_CACHE_DIR=str(work / "cache"), LAMINA_PLAIN="1")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lamina", "train", str(data), "--output", str(work / "run"), "--json"],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"lamina train failed:\n{proc.stderr[-3000:]}")
    summary = json.loads(proc.stdout)
    summary["wall_s"] = wall
    summary["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return summary


def paired_rounds(runners: dict, rounds: int) -> dict[str, list[float]]:
    """Call every runner (name -> no-argument function returning samples/s) once per round, back to back,
    in reverse order every other round (ABBA), so a slow drift of the machine's speed hits all of them alike.

    Returns name -> its rate in each round.
    """
    rates: dict[str, list[float]] = {name: [] for name in runners}
    for r in range(rounds):
        for name in list(runners) if r % 2 == 0 else list(runners)[::-1]:
            rates[name].append(runners[name]())
    return rates


def paired_ratios(ours: list[float], base: list[float]) -> tuple[float, float, float]:
    """(median, min, max) of ours / base round by round: each run is divided by the one next to it in time,
    which a ratio of overall medians would not do."""
    ratios = [o / b for o, b in zip(ours, base)]
    return statistics.median(ratios), min(ratios), max(ratios)
