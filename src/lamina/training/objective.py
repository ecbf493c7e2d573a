"""What training minimises and counts, per task: the loss, the train hits, and the class weights.

classification: cross-entropy with label smoothing and optional class weights; multilabel:
binary cross-entropy per label with optional positive weights; regression: Huber loss (1
standard deviation) on targets standardised with the train split's mean and std, which
the network predicts directly (lamina.models.output.activate scales back).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lamina.common.errors import ConfigError
from lamina.data.task import Task

WEIGHT_RATIO = 5.0  # class_weights auto: weights once the largest train class is this many times the smallest
WEIGHT_POWER = 0.5  # class_weights auto: (inverse frequency) ** this, so rare classes gain without swamping the rest
MAX_POS_WEIGHT = 10.0  # multilabel: positive weights are capped here


class Objective:
    """The loss and hit count of one task; ``weights`` are class weights (classification) or positive weights
    (multilabel), (K,) float32, or None. Per task kind: ``LOSSES`` and ``HITS`` below."""

    def __init__(self, task: Task, label_smoothing: float | None = 0.0, weights: torch.Tensor | None = None):
        self.task, self.smoothing, self.weights = task, label_smoothing or 0.0, weights

    @property
    def hit_name(self) -> str | None:
        """What ``hits`` counts, as the train metric is logged: None for regression."""
        return self.task.rules.hit_name

    def loss(self, out: torch.Tensor, y: torch.Tensor, reduction: str = "mean", plain: bool = False) -> torch.Tensor:
        """out: (B, outputs) float32 raw outputs; y: the task's targets. ``plain``: no smoothing or weights
        (the validation and evaluation loss, comparable across settings)."""
        w = None if plain or self.weights is None else self.weights.to(out.device)
        return LOSSES[self.task.kind](self, out, y, w, reduction, 0.0 if plain else self.smoothing)

    def hits(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Right answers in a batch: the top label, or the whole label set at 0.5; 0 for regression."""
        return HITS[self.task.kind](out, y)


def _cross_entropy(objective: Objective, out, y, w, reduction: str, smoothing: float) -> torch.Tensor:
    return F.cross_entropy(out, y, weight=w, label_smoothing=smoothing, reduction=reduction)


def _binary_cross_entropy(objective: Objective, out, y, w, reduction: str, smoothing: float) -> torch.Tensor:
    # summed over labels, not averaged: a mean would scale the gradient by 1 / labels (10 labels: a tenth of the
    # step cross-entropy takes), and the head underfits (benchmarks/DEFAULTS.md)
    per = F.binary_cross_entropy_with_logits(out, y, pos_weight=w, reduction="none").sum(1)
    return per.mean() if reduction == "mean" else per.sum()


def _huber(objective: Objective, out, y, w, reduction: str, smoothing: float) -> torch.Tensor:
    task = objective.task
    return F.smooth_l1_loss(out[:, 0], (y - task.mean) / task.std, beta=1.0, reduction=reduction)


LOSSES = {"classification": _cross_entropy, "multilabel": _binary_cross_entropy, "regression": _huber}  # per task kind
HITS = {
    "classification": lambda out, y: (out.argmax(1) == y).sum(),
    "multilabel": lambda out, y: ((out > 0) == (y > 0.5)).all(1).sum(),
    "regression": lambda out, y: torch.zeros((), dtype=torch.int64, device=out.device),
}


def class_weights(task: Task, y: torch.Tensor, setting) -> torch.Tensor | None:
    """The weights of ``train.class_weights`` for train targets ``y``: None ('none', regression, or 'auto' on
    balanced data), inverse-frequency ** 0.5 normalised to mean 1 ('auto' on imbalanced data; multilabel:
    (negatives / positives) ** 0.5 per label, at most 10), or given per label ({label: w}, 1 for the rest).

    Raises:
        ConfigError: a weight for a label the data does not have, or a task without labels.
    """
    if setting == "none" or (task.rules.numeric and setting == "auto"):
        return None
    if task.rules.numeric:
        raise ConfigError(f"config: train.class_weights: a {task.kind} task has no classes; leave it auto or none")
    if isinstance(setting, dict):
        unknown = sorted(set(setting) - set(task.labels))
        if unknown:
            raise ConfigError(
                f"config: train.class_weights: labels {unknown[:5]} are not in the data; labels: {task.labels[:20]}"
            )
        return torch.tensor([float(setting.get(label, 1.0)) for label in task.labels], dtype=torch.float32)
    return AUTO_WEIGHTS[task.kind](task, y)


def _inverse_frequency(task: Task, y: torch.Tensor) -> torch.Tensor | None:
    counts = torch.bincount(y, minlength=len(task.labels)).double().clamp_min(1.0)
    if counts.max() / counts.min() < WEIGHT_RATIO:
        return None
    w = (counts.sum() / counts).pow(WEIGHT_POWER)
    return (w / w.mean()).float()


def _positive_weights(task: Task, y: torch.Tensor) -> torch.Tensor | None:
    pos = y.sum(0).clamp_min(1.0)
    if pos.max() / pos.min() < WEIGHT_RATIO:
        return None
    return ((len(y) - pos).clamp_min(1.0) / pos).pow(WEIGHT_POWER).clamp(1.0, MAX_POS_WEIGHT).float()


# class_weights: auto, per labelled kind
AUTO_WEIGHTS = {
    "classification": _inverse_frequency,
    "multilabel": _positive_weights,
}
