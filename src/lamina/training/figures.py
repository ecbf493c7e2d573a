"""The figures of each task kind: the cheap ones validation logs every epoch, every figure of an evaluation, the
summary a package keeps, and whether decision thresholds are tuned on val. One class per kind of
``lamina.data.task``; a new task adds one here (and its loss in ``objective``, its activation in ``models.output``).
"""

from __future__ import annotations

import numpy as np
import torch

from lamina.data.task import Task
from lamina.models.output import activate
from lamina.training.metrics import classification_metrics, multilabel_metrics, regression_metrics


class ClassificationFigures:
    summary = ("accuracy", "macro_f1")  # kept in the package and printed after training
    tunes_thresholds = False

    def cheap(self, task: Task, out: torch.Tensor, y: torch.Tensor, monitor: str) -> dict:
        """Accuracy, and macro-F1 when it is the monitored metric (scikit-learn costs ~15 ms a call: only when it decides)."""
        pred = out.argmax(1)
        m = {"accuracy": (pred == y).float().mean().item()}
        if monitor == "macro_f1":
            m["macro_f1"] = classification_metrics(y.numpy(), pred.numpy(), task.labels)["macro_f1"]
        return m

    def full(self, task: Task, scores: np.ndarray, y: np.ndarray, present_only: bool) -> dict:
        return classification_metrics(y, scores.argmax(1), task.labels, present_only=present_only)


class MultiLabelFigures:
    summary = ("micro_f1", "macro_f1", "samples_f1", "mean_average_precision", "subset_accuracy")
    tunes_thresholds = True  # one decision threshold per label, chosen on val

    def cheap(self, task: Task, out: torch.Tensor, y: torch.Tensor, monitor: str) -> dict:
        """Micro-F1 and subset accuracy at 0.5."""
        pred, truth = out > 0, y > 0.5
        tp = (pred & truth).sum().item()
        return {
            "micro_f1": 2 * tp / max(1, pred.sum().item() + truth.sum().item()),
            "subset_accuracy": (pred == truth).all(1).float().mean().item(),
        }

    def full(self, task: Task, scores: np.ndarray, y: np.ndarray, present_only: bool) -> dict:
        return multilabel_metrics(y, scores, task.labels, task.thresholds)


class RegressionFigures:
    summary = ("mae", "rmse", "r2")
    tunes_thresholds = False

    def cheap(self, task: Task, out: torch.Tensor, y: torch.Tensor, monitor: str) -> dict:
        """MAE, RMSE and R2 in the target's units."""
        return regression_metrics(y.numpy(), activate(task, out).numpy())

    def full(self, task: Task, scores: np.ndarray, y: np.ndarray, present_only: bool) -> dict:
        return regression_metrics(y, scores[:, 0])


FIGURES = {
    "classification": ClassificationFigures(),
    "multilabel": MultiLabelFigures(),
    "regression": RegressionFigures(),
}
