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

Each kind is one class here (``TASK_KINDS``: targets, answers, outputs, monitors, label rules), one class on
the torch side (``lamina.models.output.OUTPUTS``: activation, loss, hits, automatic weights) and one on the
training side (``lamina.training.figures.FIGURES``: figures, mistakes and report sections). A new task adds those,
its name in ``data.task`` (common/config.py) and, when its label cells can tell it apart, a rule in ``detect``.
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
    """What stratified splitting keeps in proportion, per cell (see each kind's ``strata``)."""
    return TASK_KINDS[kind].strata(cells)


class Classification:
    """One label per sample: class indices as targets, softmax scores, the top-k labels as the answer."""

    name = "classification"
    answer_shape = "vector"  # what the network answers per sample (lamina.models.network.ANSWER_SHAPES)
    # train.monitor: auto, and what else it may watch (besides loss)
    monitor, monitors = (
        "accuracy",
        ("accuracy", "macro_f1"),
    )
    hit_name = "accuracy"  # what a training step counts, as the train metric is logged
    graph_output = "probabilities"  # the exported graph's output
    output_names = ("probabilities", "label")  # the server's v2 outputs
    answer_fields = ("label", "score", "top_k")  # the keys of an answer: batch scoring's columns
    empty_label_ok = False  # a sample without a label is a bad row
    numeric = False  # a number per sample, not labels
    min_labels = 2  # distinct labels a training set needs

    def cell_labels(self, cell: str) -> list[str]:
        """The labels a label cell names."""
        return [cell]

    def strata(self, cells: list[str]) -> list[str]:
        """What stratified splitting keeps in proportion, per cell: the label."""
        return list(cells)

    def counts(self, task: "Task", y: np.ndarray) -> dict:
        """A split's samples per label, from its targets."""
        return dict(sorted(Counter(task.labels[i] for i in y.tolist()).items()))

    def outputs(self, task: "Task") -> int:
        return len(task.labels)

    def targets(self, task: "Task", cells: list[str]) -> np.ndarray:  # int64 label indices (N,)
        index = {label: i for i, label in enumerate(task.labels)}
        return np.array([index[c] for c in cells], dtype=np.int64)

    def recorded(self, task: "Task") -> dict:  # what lamina.json records besides the kind
        return {"temperature": task.temperature}

    def score_scale(self, task: "Task") -> float:  # the unit the export's parity check measures differences in
        return 1.0

    def answer(self, task: "Task", scores: np.ndarray, top_k: int) -> list[dict]:
        k = max(1, min(top_k, len(task.labels)))
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # the whole batch at once
        results = []
        for idx, row in zip(
            order.tolist(), scores.tolist()
        ):  # Python floats: half the time of take_along_axis per request
            top = [{"label": task.labels[i], "score": row[i]} for i in idx]
            results.append({"label": top[0]["label"], "score": top[0]["score"], "top_k": top})
        return results

    def decided(self, task: "Task", scores: np.ndarray) -> list[str]:
        return [task.labels[i] for i in scores.argmax(1)]


class MultiLabel(Classification):
    """Any number of labels per sample: multi-hot targets, a sigmoid per label, the labels above their thresholds."""

    name = "multilabel"
    monitor, monitors = "micro_f1", ("micro_f1",)
    hit_name = "subset_accuracy"
    answer_fields = ("labels", "scores")
    empty_label_ok = True  # a sample may carry none of the labels
    min_labels = 1

    def cell_labels(self, cell: str) -> list[str]:
        return label_set(cell)

    def strata(self, cells: list[str]) -> list[str]:
        """The sample's rarest label: an approximation of iterative stratification (every label lands in every split
        when it can)."""
        sets = [label_set(c) for c in cells]
        counts = Counter(label for s in sets for label in s)
        return [min(s, key=lambda label: (counts[label], label)) if s else "(none)" for s in sets]

    def counts(self, task: "Task", y: np.ndarray) -> dict:
        """Samples carrying each label, and those carrying none."""
        out = {label: int(n) for label, n in zip(task.labels, y.sum(0).tolist())}
        out["(none)"] = int((y.sum(1) == 0).sum())
        return out

    def targets(self, task: "Task", cells: list[str]) -> np.ndarray:  # float32 multi-hot (N, K)
        index = {label: i for i, label in enumerate(task.labels)}
        y = np.zeros((len(cells), len(task.labels)), dtype=np.float32)
        for row, cell in enumerate(cells):
            y[row, [index[label] for label in label_set(cell)]] = 1.0
        return y

    def recorded(self, task: "Task") -> dict:
        return {"thresholds": task.cutoffs, "temperature": task.temperature}

    def answer(self, task: "Task", scores: np.ndarray, top_k: int) -> list[dict]:
        thresholds = np.array(task.cutoffs)
        return [
            {
                "labels": [task.labels[i] for i in np.flatnonzero(row >= thresholds)],
                "scores": {label: float(s) for label, s in zip(task.labels, row)},
            }
            for row in scores
        ]

    def decided(self, task: "Task", scores: np.ndarray) -> list[str]:
        return ["; ".join(a["labels"]) for a in self.answer(task, scores, 0)]


class Regression:
    """A number per sample: the network predicts it in units of the train split's standard deviation."""

    name = "regression"
    answer_shape = "vector"
    monitor, monitors = "r2", ("r2",)
    hit_name = None  # nothing to count
    graph_output = "value"
    output_names = ("value",)
    answer_fields = ("value",)
    empty_label_ok = False
    numeric = True
    min_labels = 0

    def cell_labels(self, cell: str) -> list[str]:
        return []

    def strata(self, cells: list[str]) -> list[str]:
        """The target's decile."""
        values = np.array([number(c) if number(c) is not None else np.nan for c in cells], dtype=np.float64)
        finite = values[np.isfinite(values)]
        if not len(finite):
            return [""] * len(cells)
        edges = np.quantile(finite, np.linspace(0, 1, STRATA + 1)[1:-1])
        return [str(int(np.searchsorted(edges, v, side="right"))) if np.isfinite(v) else "" for v in values]

    def counts(self, task: "Task", y: np.ndarray) -> dict:
        """n, mean, std, min and max of the split's targets."""
        y = y.astype(np.float64)
        return {
            "n": len(y),
            "mean": float(y.mean()) if len(y) else None,
            "std": float(y.std(ddof=1)) if len(y) > 1 else None,
            "min": float(y.min()) if len(y) else None,
            "max": float(y.max()) if len(y) else None,
        }

    def outputs(self, task: "Task") -> int:
        return 1

    def targets(self, task: "Task", cells: list[str]) -> np.ndarray:  # float32 values (N,)
        return np.array([number(c) for c in cells], dtype=np.float32)

    def recorded(self, task: "Task") -> dict:
        return {"target": task.labels[0], "mean": task.mean, "std": task.std}

    def score_scale(self, task: "Task") -> float:
        return task.std

    def answer(self, task: "Task", scores: np.ndarray, top_k: int) -> list[dict]:
        return [{"value": float(row[0])} for row in scores]


# a new task: one class above, one entry here
TASK_KINDS = {k.name: k for k in (Classification(), MultiLabel(), Regression())}


@dataclass
class Task:
    """A task with what it learned from the train split: labels, a regression target's scale, thresholds. What it
    does per kind is asked of ``rules`` (Classification, MultiLabel, Regression above)."""

    kind: str = "classification"
    labels: list[str] = field(default_factory=list)  # regression: [the target column's name]
    mean: float = 0.0  # regression: the train split's target mean and standard deviation
    std: float = 1.0
    thresholds: list[float] | None = None  # multilabel: one per label, tuned on val
    temperature: float = 1.0  # classification, multilabel: raw outputs / this before the softmax or sigmoids (val)

    @property
    def rules(self) -> Classification | MultiLabel | Regression:
        return TASK_KINDS[self.kind]

    @property
    def cutoffs(self) -> list[float]:
        """Multi-label: each label's decision threshold (0.5 until tuned on val)."""
        return list(self.thresholds or [DEFAULT_THRESHOLD] * len(self.labels))

    @property
    def outputs(self) -> int:
        """Values the network outputs per sample."""
        return self.rules.outputs(self)

    def targets(self, cells: list[str]) -> np.ndarray:
        """Training targets: int64 label indices (N,), float32 multi-hot (N, K) or float32 values (N,)."""
        return self.rules.targets(self, cells)

    def to_dict(self) -> dict:
        return {"kind": self.kind, **self.rules.recorded(self)}

    @classmethod
    def from_meta(cls, meta: dict) -> "Task":
        """The task of a model package's lamina.json (packages without one are classifiers)."""
        t = meta.get("task") or {"kind": "classification"}
        return cls(
            t["kind"],
            list(meta["labels"]),
            float(t.get("mean", 0.0)),
            float(t.get("std", 1.0)),
            t.get("thresholds"),
            float(t.get("temperature", 1.0)),  # packages from before calibration: none
        )

    def answer(self, scores: np.ndarray, top_k: int = 5) -> list[dict]:
        """What predict and the server return per row of the network's activated output (N, outputs):
        classification {"label", "score", "top_k"}; multilabel {"labels", "scores"}; regression {"value"}."""
        return self.rules.answer(self, scores, top_k)

    def decided(self, scores: np.ndarray) -> list[str]:
        """One text per row for the v2 'label' output of a classifier: the label, or the labels joined by '; '."""
        return self.rules.decided(self, scores)
