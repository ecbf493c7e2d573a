"""Disk size of the serving-only install (`pip install lamina`, no torch) next to the training install
(`pip install 'lamina[train]'`), each in a fresh venv made here.

    .venv/bin/python benchmarks/install_size.py

Prints a markdown table: MiB on disk per venv (du of the whole venv, pip included), whether torch is in it, and
the ratio core / train.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def venv_size(spec: str, where: Path) -> tuple[float, bool]:
    """(MiB on disk, whether torch imports) of a fresh venv with ``pip install spec``."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "-c", str(REPO / "constraints.txt"), spec], check=True, capture_output=True)
    kib = int(subprocess.run(["du", "-sk", str(where)], capture_output=True, text=True).stdout.split()[0])
    torch = subprocess.run([str(where / "bin" / "python"), "-c", "import torch"], capture_output=True).returncode == 0
    return kib / 1024, torch


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        core = venv_size(str(REPO), Path(tmp) / "core")
        train = venv_size(f"{REPO}[train]", Path(tmp) / "train")
    print(f"{platform.machine()}, Python {platform.python_version()}\n")
    print("| install | MiB on disk | torch |")
    print("|---|---|---|")
    print(f"| `pip install lamina` (serve, predict, score) | {core[0]:.0f} | {'yes' if core[1] else 'no'} |")
    print(f"| `pip install 'lamina[train]'` | {train[0]:.0f} | {'yes' if train[1] else 'no'} |")
    print(f"\ncore / train: {core[0] / train[0]:.2f}")


if __name__ == "__main__":
    main()
