"""Shared by the benchmark scripts: one zero-config `lamina train` through the CLI, measured; paired rounds of runs."""

from __future__ import annotations

import json
import statistics
import os
import subprocess
import sys
import time
from pathlib import Path


def machine_line() -> str:
    """The machine a table was measured on: architecture, cores and the CPU's bf16 and AMX flags."""
    import platform

    flags = [f for f in ("avx512_bf16", "amx_tile") if f in Path("/proc/cpuinfo").read_text()]
    return f"{platform.machine()}, {os.cpu_count()} cores, flags: {' '.join(flags) or 'fp32 only'}"


def zero_config(data: Path, work: Path, *options: str, name: str = "run") -> dict:
    """`lamina train DATA [OPTIONS]` (no options: zero-config) with an empty decode cache, into WORK/NAME: the run summary
    plus wall_s and peak_rss_mb (of this training process and its children alone, from wait4)."""
    env = dict(os.environ, LAMINA_CACHE_DIR=str(work / f"cache-{name}"), LAMINA_PLAIN="1")
    out, err = work / f"{name}.stdout", work / f"{name}.stderr"
    t0 = time.perf_counter()
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lamina", "train", str(data), "--output", str(work / name), "--json", *options],
            stdout=o,
            stderr=e,
            env=env,
        )
        _, status, usage = os.wait4(proc.pid, 0)  # the rusage of this child alone
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"lamina train failed:\n{err.read_text()[-3000:]}")
    summary = json.loads(out.read_text())
    summary["wall_s"] = wall
    summary["peak_rss_mb"] = usage.ru_maxrss / 1024
    return summary


def evaluate(run: Path, data: Path) -> float:
    """Accuracy of the run's model on a labelled folder, through `lamina evaluate`."""
    r = subprocess.run(
        [sys.executable, "-m", "lamina", "evaluate", str(run), str(data), "--json"], capture_output=True, text=True
    )
    if r.returncode:
        raise SystemExit(r.stderr[-2000:])
    return json.loads(r.stdout)["accuracy"]


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
