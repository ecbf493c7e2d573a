"""Shared by the benchmark scripts: one zero-config `lamina train` through the CLI, measured."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def zero_config(data: Path, work: Path, run: str = "run") -> dict:
    """`lamina train DATA --output WORK/RUN` with no config, decode cache in WORK/cache (empty on the first call).

    Returns the run summary plus wall_s and peak_rss_mb (the largest of all child processes so far).
    """
    env = dict(os.environ, LAMINA_CACHE_DIR=str(work / "cache"), LAMINA_PLAIN="1")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lamina", "train", str(data), "--output", str(work / run), "--json"],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"lamina train failed:\n{proc.stderr[-3000:]}")
    summary = json.loads(proc.stdout)
    summary["wall_s"] = wall
    summary["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return summary
