"""The model package contract, torch-free: where a package is and how its lamina.json is read.

Shared by training (which writes packages), export, and serving (which must not import torch).
"""

from __future__ import annotations

from pathlib import Path

from lamina.common.errors import LaminaError
from lamina.common.files import read_json

FORMAT = "lamina.model/1"


def find_package(path: str | Path) -> Path:
    """The model package directory for a run directory or a package directory.

    Raises:
        LaminaError: neither ``path/lamina.json`` nor ``path/model/lamina.json`` exists.
    """
    p = Path(path)
    for candidate in (p, p / "model"):
        if (candidate / "lamina.json").is_file():
            return candidate
    if not p.exists():
        raise LaminaError(f"{p}: no such run directory or model package.")
    raise LaminaError(f"{p}: not a run directory or model package (no lamina.json in it or in {p / 'model'}).")


def read_meta(package: Path) -> dict:
    """lamina.json of a package, checked for a format this version reads."""
    path = Path(package) / "lamina.json"
    try:
        meta = read_json(path)
    except (OSError, ValueError) as e:
        raise LaminaError(f"{path}: unreadable ({e}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise LaminaError(f"{path}: format {got!r} is not {FORMAT!r}; it was written by another lamina version.")
    return meta
