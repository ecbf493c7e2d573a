"""Prepared data: each split as tensors in its modality's stored form, and what training needs to know about it.

The result holds each split as one tensor (or a lazy view of the decode cache), which makes a batch a slice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from lamina.common.listing import bounded
from lamina.data.pixel_rows import PixelRows
from lamina.data.task import Task

if TYPE_CHECKING:
    from lamina.data.modality import Modality


@dataclass
class SplitData:
    """One split as tensors."""

    # the stored form its modality made (a batch of it is a slice): images (N, C, H, W) uint8 channels-last
    # (PixelRows: read from the cache file per batch), audio (N, samples) int16, texts (N, max_tokens) int32 ids,
    # a frozen encoder's features (N, D) float32
    x: torch.Tensor | PixelRows
    # classification: (N,) int64 label indices; multilabel: (N, K) float32 0/1; regression: (N,) float32 targets
    y: torch.Tensor
    keys: list[str]  # sample keys (paths relative to the data root, or "row N" of a table), aligned with x
    form: str  # the name of x's stored form: a modality's name or "features" (lamina.models.modality.feed)
    texts: list[str] | None = None  # the raw texts of a table, aligned with x (for reports)
    hashes: list[str] | None = None  # content hashes of the files, aligned with x (keys of the feature cache)

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, indices) -> "SplitData":
        """The samples at ``indices``, in that order (images stay on disk: a view of the same cache rows)."""
        idx = np.asarray(indices, dtype=np.int64)
        x = self.x.take(idx) if isinstance(self.x, PixelRows) else self.x[torch.from_numpy(idx)]
        pick = lambda values: None if values is None else [values[i] for i in idx]  # noqa: E731
        return SplitData(
            x, self.y[torch.from_numpy(idx)], pick(self.keys), self.form, pick(self.texts), pick(self.hashes)
        )

    @staticmethod
    def join(parts: list["SplitData"]) -> "SplitData":
        """The samples of ``parts`` one after another (splits of one prepared data set: the same stored form)."""
        xs = [p.x for p in parts]
        x = PixelRows.join(xs) if isinstance(xs[0], PixelRows) else torch.cat(xs)
        joined = lambda name: None if getattr(parts[0], name) is None else [v for p in parts for v in getattr(p, name)]  # noqa: E731
        return SplitData(
            x, torch.cat([p.y for p in parts]), joined("keys"), parts[0].form, joined("texts"), joined("hashes")
        )


@dataclass
class PreparedData:
    """Everything training needs to know about its data."""

    modality: str
    root: str
    layout: str
    labels: list[str]
    prep: Modality  # the modality object, holding the preprocessing it chose
    splits: dict[str, SplitData]
    mean: list[float]  # the train split's statistics the modality keeps (images: per channel, pixel units 0..255)
    std: list[float]
    fingerprint: str  # sha256 over (split, label, content hash) of every sample
    split_record: dict[str, list[str]]  # split -> sample keys, replayable by evaluate
    skipped: list[dict] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)  # warnings from lamina.data.checks (imbalance, leakage)
    tokenizer: object = None  # the tokenizers.Tokenizer that made token ids, where the modality makes them
    columns: tuple[str, str] | None = None  # a table's (input, label) columns
    ignored_columns: list[str] = field(default_factory=list)  # a table's other columns, not read
    noise: torch.Tensor | None = None  # background noise (T,) int16 for augmentation, where the data has it
    task: Task = field(default_factory=Task)  # what the labels are; task.labels == labels
    use: dict | None = None  # a table's columns: {"read": {column: kind}, "label", "ignored": [columns]}

    def counts(self) -> dict:
        """Per split: samples per label (multi-label: samples carrying it); regression: n, mean, std, min, max."""
        return {name: self.task.rules.counts(self.task, d.y.numpy()) for name, d in self.splits.items()}

    def summary(self) -> dict:
        """JSON-ready description, saved as data.json in the run."""
        return {
            "path": self.root,
            "layout": self.layout,
            "modality": self.modality,
            "labels": self.labels,
            "task": self.task.to_dict(),
            "preprocessing": self.prep.to_dict(),
            "counts": self.counts(),
            "fingerprint": self.fingerprint,
            "skipped": self.skipped,
            "checks": [bounded(c) for c in self.checks],
            "splits": self.split_record,
            **({"columns": list(self.columns), "ignored_columns": self.ignored_columns} if self.columns else {}),
            **({"use": self.use} if self.use else {}),
        }

    def column_use(self) -> dict | None:
        """Tables: {"read": {column: kind}, "label", "ignored"}, the columns the model reads and those it does not;
        None for files."""
        return self.use
