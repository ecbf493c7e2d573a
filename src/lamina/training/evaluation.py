"""A trained model's figures on its val and test splits, per task; multi-label thresholds are tuned here, on val."""

from __future__ import annotations

import numpy as np
import torch

from lamina.data.dataset import PreparedData
from lamina.data.task import Task
from lamina.models.output import activate
from lamina.training.loop import predict_split
from lamina.training.metrics import classification_metrics, multilabel_metrics, regression_metrics, tune_thresholds
from lamina.training.objective import Objective

SUMMARY = {"classification": ("accuracy", "macro_f1"),
           "multilabel": ("micro_f1", "macro_f1", "samples_f1", "mean_average_precision", "subset_accuracy"),
           "regression": ("mae", "rmse", "r2")}  # the figures of a split kept in the package and printed after training


def evaluate_scores(task: Task, scores: np.ndarray, y: np.ndarray, present_only: bool = False) -> dict:
    """Every figure of a task for activated outputs ``scores`` against targets ``y`` (the shape `evaluate --json` prints)."""
    if task.kind == "multilabel":
        return multilabel_metrics(y, scores, task.labels, task.thresholds)
    if task.kind == "regression":
        return regression_metrics(y, scores[:, 0])
    return classification_metrics(y, scores.argmax(1), task.labels, present_only=present_only)


def final_metrics(model: torch.nn.Module, data: PreparedData, batch_size: int) -> tuple[dict, tuple | None]:
    """({split: summary figures and loss}, (split name, SplitData, scores, full figures) of the split a report shows:
    test when there is one, else val). A multi-label task gets its thresholds from val first (0.5 without val)."""
    task, objective = data.task, Objective(data.task)
    outputs = {}
    for name in ("val", "test"):
        split = data.splits.get(name)
        if split is not None and len(split):
            out, loss = predict_split(model, split, "cpu", "fp32", batch_size, objective)
            outputs[name] = (split, activate(task, out).numpy(), loss)
    if task.kind == "multilabel":
        task.thresholds = tune_thresholds(outputs["val"][1], outputs["val"][0].y.numpy()) if "val" in outputs else None
    metrics, reported = {}, None
    for name, (split, scores, loss) in outputs.items():
        full = evaluate_scores(task, scores, split.y.numpy())
        metrics[name] = {**{k: full[k] for k in SUMMARY[task.kind]}, "loss": loss, "n": full["n"]}
        reported = (name, split, scores, full)
    return metrics, reported
