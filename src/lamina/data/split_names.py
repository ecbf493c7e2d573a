"""The names a split may go by, in folder names, split columns and --split: one table for all three."""

from __future__ import annotations

SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def canonical_split(name: str | None) -> str | None:
    """'valid' and 'validation' -> 'val' (any case); other names as given; None stays None."""
    if name is None:
        return None
    return SPLIT_ALIASES.get(name.lower(), name)
