"""The task: what a label cell means, what the network outputs, and what a prediction answers. No torch here.

Three kinds, each a way to read the label column and to answer:

- ``classification``: one label per sample; softmax over the labels; answers the top-k labels.
- ``multilabel``: a cell holds several labels separated by ``;`` or ``|`` (a JSON list in
  JSONL), or none; one sigmoid per label, and a decision threshold per label tuned on val;
  answers the labels above their thresholds, with every score.
- ``regression``: a number per sample; the network predicts it in units of the train split's
  standard deviation, and its last layer scales back; answers the number.

``data.task: auto`` reads the cells: a separator or a list makes it multi-label, numbers with
more than 20 distinct values regression, anything else classification. The same object
answers in ``lamina predict`` and in the server (which has no torch), so both give the same
JSON for the same scores.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

KINDS = ("classification", "multilabel", "regression")
SEPARATOR = re.compile(r"\s*[;|]\s*")
REGRESSION_DISTINCT = 20  # numeric label columns with more distinct values than this are regression targets
STRATA = 10  # regression: quantile bins of the target that splits are stratified over
DEFAULT_THRESHOLD = 0.5


def cell_text(value) -> str:
    """A label cell as text: a list (JSONL) joined with '; ', None as ''."""
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v).strip() for v in value if str(v).strip())
    return "" if value is None else str(value).strip()


def label_set(cell: str) -> list[str]:
    """The labels of a multi-label cell, sorted, without repeats: 'b; a|b' -> ['a', 'b']."""
    return sorted({part for part in SEPARATOR.split(cell.strip()) if part})


def number(cell: str) -> float | None:
    """The finite number a cell holds, or None."""
    try:
        value = float(cell)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def detect(cells: list, explicit: str = "auto") -> str:
    """The task of a label column: ``explicit`` unless it is 'auto', else read from the cells (raw values)."""
    if explicit != "auto":
        return explicit
    if any(isinstance(c, (list, tuple)) or SEPARATOR.search(str(c).strip()) for c in cells if c is not None):
        return "multilabel"
    texts = [cell_text(c) for c in cells]
    values = [number(t) for t in texts if t]
    if values and None not in values and len(set(values)) > REGRESSION_DISTINCT:
        return "regression"
    return "classification"


def strata(kind: str, cells: list[str]) -> list[str]:
    """What stratified splitting keeps in proportion, per cell: the label; for multi-label, the sample's rarest
    label (an approximation of iterative stratification: every label lands in every split when it can); for
    regression, the target's decile."""
    if kind == "classification":
        return list(cells)
    if kind == "multilabel":
        sets = [label_set(c) for c in cells]
        counts = Counter(label for s in sets for label in s)
        return [min(s, key=lambda label: (counts[label], label)) if s else "(none)" for s in sets]
    values = np.array([number(c) if number(c) is not None else np.nan for c in cells], dtype=np.float64)
    finite = values[np.isfinite(values)]
    if not len(finite):
        return [""] * len(cells)
    edges = np.quantile(finite, np.linspace(0, 1, STRATA + 1)[1:-1])
    return [str(int(np.searchsorted(edges, v, side="right"))) if np.isfinite(v) else "" for v in values]


@dataclass
class Task:
    """A task with what it learned from the train split: labels, a regression target's scale, thresholds."""

    kind: str = "classification"
    labels: list[str] = field(default_factory=list)  # regression: [the target column's name]
    mean: float = 0.0  # regression: the train split's target mean and standard deviation
    std: float = 1.0
    thresholds: list[float] | None = None  # multilabel: one per label, tuned on val

    @property
    def cutoffs(self) -> list[float]:
        """Multi-label: each label's decision threshold (0.5 until tuned on val)."""
        return list(self.thresholds or [DEFAULT_THRESHOLD] * len(self.labels))

    @property
    def outputs(self) -> int:
        """Values the network outputs per sample."""
        return 1 if self.kind == "regression" else len(self.labels)

    def targets(self, cells: list[str]) -> np.ndarray:
        """Training targets: int64 label indices (N,), float32 multi-hot (N, K) or float32 values (N,)."""
        if self.kind == "classification":
            index = {label: i for i, label in enumerate(self.labels)}
            return np.array([index[c] for c in cells], dtype=np.int64)
        if self.kind == "multilabel":
            index = {label: i for i, label in enumerate(self.labels)}
            y = np.zeros((len(cells), len(self.labels)), dtype=np.float32)
            for row, cell in enumerate(cells):
                y[row, [index[label] for label in label_set(cell)]] = 1.0
            return y
        return np.array([number(c) for c in cells], dtype=np.float32)

    def to_dict(self) -> dict:
        out: dict = {"kind": self.kind}
        if self.kind == "regression":
            out.update(target=self.labels[0], mean=self.mean, std=self.std)
        if self.kind == "multilabel":
            out["thresholds"] = self.cutoffs
        return out

    @classmethod
    def from_meta(cls, meta: dict) -> "Task":
        """The task of a model package's lamina.json (packages without one are classifiers)."""
        t = meta.get("task") or {"kind": "classification"}
        return cls(t["kind"], list(meta["labels"]), float(t.get("mean", 0.0)), float(t.get("std", 1.0)), t.get("thresholds"))

    def answer(self, scores: np.ndarray, top_k: int = 5) -> list[dict]:
        """What predict and the server return per row of the network's activated output (N, outputs):
        classification {"label", "score", "top_k"}; multilabel {"labels", "scores"}; regression {"value"}."""
        if self.kind == "regression":
            return [{"value": float(row[0])} for row in scores]
        if self.kind == "multilabel":
            thresholds = np.array(self.cutoffs)
            return [{"labels": [self.labels[i] for i in np.flatnonzero(row >= thresholds)],
                     "scores": {label: float(s) for label, s in zip(self.labels, row)}} for row in scores]
        k = max(1, min(top_k, len(self.labels)))
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # the whole batch at once
        results = []
        for idx, row in zip(order.tolist(), scores.tolist()):  # Python floats: half the time of take_along_axis per request
            top = [{"label": self.labels[i], "score": row[i]} for i in idx]
            results.append({"label": top[0]["label"], "score": top[0]["score"], "top_k": top})
        return results

    def decided(self, scores: np.ndarray) -> list[str]:
        """One text per row for the v2 'label' output of a classifier: the label, or the labels joined by '; '."""
        if self.kind == "multilabel":
            return ["; ".join(a["labels"]) for a in self.answer(scores)]
        return [self.labels[i] for i in scores.argmax(1)]
