"""A data set's fingerprint: what a resumed run checks its data against, and what the package records."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def fingerprint(rows: Iterable[tuple[str, object, str]]) -> str:
    """sha256 over the sorted (split, label, content hash) of every sample: the same for the same samples in any order,
    different when a file's or text's content, its label or its split changes."""
    lines = sorted(f"{split}\t{label}\t{content}" for split, label, content in rows)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
