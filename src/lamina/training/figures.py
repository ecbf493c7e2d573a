"""The training side of each task kind: the cheap figures validation logs every epoch, every figure of an
evaluation, the summary a package keeps, whether decision thresholds are tuned on val, and the report's mistakes
and sections (summary line, plots, tables). One class per kind of ``lamina.data.task``; a new task adds one here
(and its output in ``lamina.models.output``).
"""

from __future__ import annotations

import html

import numpy as np
import torch

from lamina.data.task import Task
from lamina.models.output import activate
from lamina.training.calibration import reliability
from lamina.training.charts import confusion_svg, line_chart, pr_curves, scatter_svg
from lamina.training.metrics import classification_metrics, multilabel_metrics, regression_metrics


class ClassificationFigures:
    summary = ("accuracy", "macro_f1")  # kept in the package and printed after training
    mistakes_heading = "Most confident mistakes"  # the report's gallery of the predictions furthest from the truth
    tunes_thresholds = False
    calibrates = True  # a temperature fit on val (lamina.training.calibration)

    def cheap(self, task: Task, out: torch.Tensor, y: torch.Tensor, monitor: str) -> dict:
        """Accuracy, and macro-F1 when it is the monitored metric (scikit-learn costs ~15 ms a call: only when it decides)."""
        pred = out.argmax(1)
        m = {"accuracy": (pred == y).float().mean().item()}
        if monitor == "macro_f1":
            m["macro_f1"] = classification_metrics(y.numpy(), pred.numpy(), task.labels)["macro_f1"]
        return m

    def full(self, task: Task, scores: np.ndarray, y: np.ndarray, present_only: bool) -> dict:
        return {
            **classification_metrics(y, scores.argmax(1), task.labels, present_only=present_only),
            "ece": reliability(scores, y, task.kind)["ece"],
        }

    def mistakes(self, task, scores: np.ndarray, y: np.ndarray, limit: int) -> list[tuple]:
        pred = scores.argmax(1)
        wrong = np.flatnonzero(pred != y)
        order = wrong[np.argsort(-scores[wrong, pred[wrong]], kind="stable")][:limit]
        return [(i, (task.labels[y[i]], task.labels[pred[i]], float(scores[i, pred[i]]))) for i in order]

    def sections(self, task, split: str, evaluation: dict, scores, y) -> tuple[str, str]:
        e = html.escape
        summary = (
            f"<span><b>{split}</b> accuracy {evaluation['accuracy']:.4f}</span><span>macro-F1 {evaluation['macro_f1']:.4f}</span>"
            f"<span>n = {evaluation['n']}</span>"
        )
        per_class = "".join(
            f"<tr><td>{e(name)}</td><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td><td>{m['f1']:.3f}</td><td>{m['support']}</td></tr>"
            for name, m in evaluation["per_class"].items()
        )
        return summary + _ece_span(evaluation), (
            f"<h2>Confusion matrix ({split})</h2>{confusion_svg(evaluation['confusion_matrix'], evaluation['labels'])}"
            f"<h2>Per class ({split})</h2><table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
            f"<th>support</th></tr>{per_class}</table>{calibration_section(split, evaluation)}"
        )


class MultiLabelFigures:
    summary = ("micro_f1", "macro_f1", "samples_f1", "mean_average_precision", "subset_accuracy")
    mistakes_heading = "Most confident mistakes"
    tunes_thresholds = True  # one decision threshold per label, chosen on val
    calibrates = True

    def cheap(self, task: Task, out: torch.Tensor, y: torch.Tensor, monitor: str) -> dict:
        """Micro-F1 and subset accuracy at 0.5."""
        pred, truth = out > 0, y > 0.5
        tp = (pred & truth).sum().item()
        return {
            "micro_f1": 2 * tp / max(1, pred.sum().item() + truth.sum().item()),
            "subset_accuracy": (pred == truth).all(1).float().mean().item(),
        }

    def full(self, task: Task, scores: np.ndarray, y: np.ndarray, present_only: bool) -> dict:
        return {
            **multilabel_metrics(y, scores, task.labels, task.thresholds),
            "ece": reliability(scores, y, task.kind)["ece"],
        }

    def mistakes(self, task, scores: np.ndarray, y: np.ndarray, limit: int) -> list[tuple]:
        pred = scores >= np.asarray(task.cutoffs)[None, :]
        wrong = np.flatnonzero((pred != (y > 0.5)).any(1))
        order = wrong[np.argsort(-np.abs(scores[wrong] - y[wrong]).sum(1), kind="stable")][:limit]
        names = lambda row: "; ".join(task.labels[k] for k in np.flatnonzero(row)) or "(none)"  # noqa: E731
        return [(i, (names(y[i] > 0.5), names(pred[i]), None)) for i in order]

    def sections(self, task, split: str, evaluation: dict, scores, y) -> tuple[str, str]:
        e = html.escape
        summary = (
            f"<span><b>{split}</b> micro-F1 {evaluation['micro_f1']:.4f}</span><span>macro-F1 {evaluation['macro_f1']:.4f}</span>"
            f"<span>mAP {evaluation['mean_average_precision']:.4f}</span><span>subset accuracy {evaluation['subset_accuracy']:.4f}</span>"
            f"<span>n = {evaluation['n']}</span>"
        )
        rows = "".join(
            f"<tr><td>{e(name)}</td><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td><td>{m['f1']:.3f}</td>"
            f"<td>{'-' if m['ap'] is None else format(m['ap'], '.3f')}</td><td>{m['support']}</td><td>{m['threshold']:.2f}</td></tr>"
            for name, m in evaluation["per_label"].items()
        )
        chart = (
            line_chart(pr_curves(scores, y, task.labels), "precision-recall", "recall") if scores is not None else ""
        )
        return summary + _ece_span(evaluation), (
            f'<h2>Precision-recall ({split})</h2><div class="charts">{chart}</div>'
            f"<h2>Per label ({split})</h2><table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th>"
            f"<th>AP</th><th>support</th><th>threshold</th></tr>{rows}</table>{calibration_section(split, evaluation)}"
        )


class RegressionFigures:
    summary = ("mae", "rmse", "r2")
    mistakes_heading = "Largest errors"
    tunes_thresholds = False
    calibrates = False  # answers values, not probabilities

    def cheap(self, task: Task, out: torch.Tensor, y: torch.Tensor, monitor: str) -> dict:
        """MAE, RMSE and R2 in the target's units."""
        return regression_metrics(y.numpy(), activate(task, out).numpy())

    def full(self, task: Task, scores: np.ndarray, y: np.ndarray, present_only: bool) -> dict:
        return regression_metrics(y, scores[:, 0])

    def mistakes(self, task, scores: np.ndarray, y: np.ndarray, limit: int) -> list[tuple]:
        order = np.argsort(-np.abs(scores[:, 0] - y), kind="stable")[:limit]
        return [(i, (f"{y[i]:.4g}", f"{scores[i, 0]:.4g}", None)) for i in order]

    def sections(self, task, split: str, evaluation: dict, scores, y) -> tuple[str, str]:
        summary = (
            f"<span><b>{split}</b> MAE {evaluation['mae']:.4g}</span><span>RMSE {evaluation['rmse']:.4g}</span>"
            f"<span>R2 {evaluation['r2']:.4f}</span><span>n = {evaluation['n']}</span>"
        )
        plots = ""
        if scores is not None and y is not None:
            plots = scatter_svg(
                y, scores[:, 0], "predicted against true", "true", "predicted", diagonal=True
            ) + scatter_svg(scores[:, 0], scores[:, 0] - y, "residuals", "predicted", "predicted - true")
        return summary, f'<h2>Predictions ({split})</h2><div class="charts">{plots}</div>'


def _ece_span(evaluation: dict) -> str:
    return f"<span>ECE {evaluation['ece']:.4f}</span>" if "ece" in evaluation else ""


def calibration_section(split: str, evaluation: dict) -> str:
    """The reliability diagram (accuracy against confidence per bin, before and after the temperature) and the ECE
    both ways; empty when the evaluation did not calibrate (``lamina evaluate`` of a package)."""
    bins = evaluation.get("reliability")
    if not bins:
        return ""
    series = {
        "perfect": [(0.0, 0.0), (1.0, 1.0)],
        "network's own": [(b["confidence"], b["accuracy"]) for b in bins["before"]],
        "calibrated": [(b["confidence"], b["accuracy"]) for b in bins["after"]],
    }
    return (
        f"<h2>Calibration ({split})</h2><p>Temperature {evaluation['temperature']:.3f}, fit on val: expected "
        f"calibration error {evaluation['ece_uncalibrated']:.4f} before, {evaluation['ece']:.4f} after "
        f"(15 bins; the probabilities served are the calibrated ones).</p>"
        f'<div class="charts">{line_chart(series, "reliability: accuracy against confidence", "confidence")}</div>'
    )


FIGURES = {
    "classification": ClassificationFigures(),
    "multilabel": MultiLabelFigures(),
    "regression": RegressionFigures(),
}
