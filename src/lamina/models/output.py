"""The torch side of each task kind: what a network's raw outputs mean. One class per kind of lamina.data.task
(``OUTPUTS``), each answering:

- ``activate``: raw outputs -> the task's scores (softmax, sigmoid, or the target's own units), used wherever a
  trained model is applied (evaluation, ``lamina predict``, the exported ONNX graph), so every path agrees;
- ``loss``: what training minimises on the raw outputs; ``hits``: the right answers a training step counts;
- ``auto_weights``: ``train.class_weights: auto`` for the train targets (None: unweighted).

Figures and report sections are the training side's (lamina.training.figures, lamina.training.report).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lamina.common.errors import ConfigError
from lamina.data.task import Task
from lamina.models.network import ANSWER_SHAPES

WEIGHT_RATIO = 5.0  # class_weights auto: weights once the largest train class is this many times the smallest
WEIGHT_POWER = 0.5  # class_weights auto: (inverse frequency) ** this, so rare classes gain without swamping the rest
MAX_POS_WEIGHT = 10.0  # multilabel: positive weights are capped here


class ClassificationOutput:
    """One label: softmax scores, cross-entropy with label smoothing and optional class weights."""

    name = "classification"

    def activate(self, task: Task, out: torch.Tensor) -> torch.Tensor:
        return torch.softmax(out / task.temperature, dim=1)  # the temperature calibrates (lamina.training.calibration)

    def loss(self, task: Task, out, y, w, reduction: str, smoothing: float) -> torch.Tensor:
        return F.cross_entropy(out, y, weight=w, label_smoothing=smoothing, reduction=reduction)

    def hits(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (out.argmax(1) == y).sum()

    def auto_weights(self, task: Task, y: torch.Tensor) -> torch.Tensor | None:
        """Inverse frequency ** 0.5, normalised to mean 1, when the classes are imbalanced."""
        counts = torch.bincount(y, minlength=len(task.labels)).double().clamp_min(1.0)
        if counts.max() / counts.min() < WEIGHT_RATIO:
            return None
        w = (counts.sum() / counts).pow(WEIGHT_POWER)
        return (w / w.mean()).float()


class MultiLabelOutput:
    """Any number of labels: a sigmoid per label, binary cross-entropy per label with optional positive weights."""

    name = "multilabel"

    def activate(self, task: Task, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out / task.temperature)

    def loss(self, task: Task, out, y, w, reduction: str, smoothing: float) -> torch.Tensor:
        # summed over labels, not averaged: a mean would scale the gradient by 1 / labels (10 labels: a tenth of the
        # step cross-entropy takes), and the head underfits (benchmarks/DEFAULTS.md)
        per = F.binary_cross_entropy_with_logits(out, y, pos_weight=w, reduction="none").sum(1)
        return per.mean() if reduction == "mean" else per.sum()

    def hits(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ((out > 0) == (y > 0.5)).all(1).sum()  # the whole label set right at 0.5

    def auto_weights(self, task: Task, y: torch.Tensor) -> torch.Tensor | None:
        """(negatives / positives) ** 0.5 per label, at most 10, when the labels' frequencies are imbalanced."""
        pos = y.sum(0).clamp_min(1.0)
        if pos.max() / pos.min() < WEIGHT_RATIO:
            return None
        return ((len(y) - pos).clamp_min(1.0) / pos).pow(WEIGHT_POWER).clamp(1.0, MAX_POS_WEIGHT).float()


class RegressionOutput:
    """A number: the network predicts it in units of the train split's standard deviation (Huber loss, 1 std)."""

    name = "regression"

    def activate(self, task: Task, out: torch.Tensor) -> torch.Tensor:
        return out * task.std + task.mean  # back to the target's units

    def loss(self, task: Task, out, y, w, reduction: str, smoothing: float) -> torch.Tensor:
        return F.smooth_l1_loss(out[:, 0], (y - task.mean) / task.std, beta=1.0, reduction=reduction)

    def hits(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.zeros((), dtype=torch.int64, device=out.device)  # nothing to count

    def auto_weights(self, task: Task, y: torch.Tensor) -> None:
        return None  # no classes to weigh


OUTPUTS = {k.name: k for k in (ClassificationOutput(), MultiLabelOutput(), RegressionOutput())}


def output_of(task: Task) -> ClassificationOutput | MultiLabelOutput | RegressionOutput:
    """The torch side of ``task``'s kind.

    Raises:
        ConfigError: a task whose answer is not one vector per sample, which no network gives yet.
    """
    shape = task.rules.answer_shape
    if shape not in ANSWER_SHAPES:
        raise ConfigError(
            f"config: data.task: a {task.kind} task answers a {shape} per sample; lamina's networks answer one of "
            f"{', '.join(ANSWER_SHAPES)} per sample, so this task cannot be trained yet"
        )
    return OUTPUTS[task.kind]


def activate(task: Task, out: torch.Tensor) -> torch.Tensor:
    """(N, outputs) raw -> (N, outputs) scores: class probabilities, per-label probabilities, or predicted values."""
    return output_of(task).activate(task, out)
