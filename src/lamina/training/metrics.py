"""Metrics of each task (classification, multi-label, regression), in the JSON shape the CLI prints; thresholds per label."""

from __future__ import annotations

import numpy as np


def classification_metrics(y_true, y_pred, labels: list[str], present_only: bool = False) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    Args:
        y_true, y_pred: label indices into ``labels``.
        present_only: restrict per-class figures and macro-F1 to labels that occur in ``y_true``
            (evaluation data may hold a subset of the model's labels). The confusion matrix
            always covers every label, so no prediction is left out of it.
    Returns:
        {"accuracy", "macro_f1", "n", "labels", "per_class", "confusion_matrix"}; matrix rows are
        true labels and columns predicted labels, both in the order of "labels".
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    idx = sorted(set(y_true.tolist())) if present_only else list(range(len(labels)))
    if len(y_true) == 0:
        return {
            "accuracy": 0.0,
            "macro_f1": 0.0,
            "n": 0,
            "labels": list(labels),
            "per_class": {},
            "confusion_matrix": [],
        }
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=idx, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=idx, average="macro", zero_division=0)),
        "n": int(len(y_true)),
        "labels": list(labels),
        "per_class": {
            labels[i]: {"precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]), "support": int(s[j])}
            for j, i in enumerate(idx)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=list(range(len(labels)))).tolist(),
    }


THRESHOLD_GRID = np.round(np.arange(0.05, 0.96, 0.05), 2)  # candidate decision thresholds per label


def tune_thresholds(scores: np.ndarray, y: np.ndarray, default: float = 0.5) -> list[float]:
    """Per label, the threshold on the val scores (N, K) that maximises that label's F1; ``default`` for a label
    with no positive in val (nothing to tune on). Ties go to the threshold nearest ``default``."""
    out = []
    for k in range(y.shape[1]):
        truth = y[:, k] > 0.5
        if not truth.any():
            out.append(default)
            continue
        pred = scores[:, k][:, None] >= THRESHOLD_GRID[None, :]  # (N, T)
        tp = (pred & truth[:, None]).sum(0)
        f1 = 2 * tp / np.maximum(1, pred.sum(0) + truth.sum())
        best = np.flatnonzero(f1 == f1.max())
        out.append(float(THRESHOLD_GRID[best[np.argmin(np.abs(THRESHOLD_GRID[best] - default))]]))
    return out


def multilabel_metrics(y_true, scores, labels: list[str], thresholds: list[float] | None = None) -> dict:
    """Micro-, macro- and samples-F1, mean average precision, subset accuracy and per-label figures.

    Args:
        y_true: (N, K) 0/1; scores: (N, K) sigmoid outputs; thresholds: one per label (default 0.5).
    Returns:
        {"micro_f1", "macro_f1", "samples_f1", "mean_average_precision", "subset_accuracy", "n", "labels",
        "per_label": {label: {"precision", "recall", "f1", "ap", "support", "threshold"}}}; macro figures and the
        mAP average over labels with at least one positive.
    """
    from sklearn.metrics import average_precision_score, f1_score, precision_recall_fscore_support

    y_true = np.asarray(y_true) > 0.5
    scores = np.asarray(scores, dtype=np.float64)
    t = np.asarray(thresholds if thresholds is not None else [0.5] * len(labels))
    if len(y_true) == 0:
        return {
            "micro_f1": 0.0,
            "macro_f1": 0.0,
            "samples_f1": 0.0,
            "mean_average_precision": 0.0,
            "subset_accuracy": 0.0,
            "n": 0,
            "labels": list(labels),
            "per_label": {},
        }
    pred = scores >= t[None, :]
    present = np.flatnonzero(y_true.sum(0) > 0)
    p, r, f, s = precision_recall_fscore_support(y_true, pred, zero_division=0)
    ap = [
        float(average_precision_score(y_true[:, k], scores[:, k])) if k in present else None for k in range(len(labels))
    ]
    return {
        "micro_f1": float(f1_score(y_true, pred, average="micro", zero_division=0)),
        "macro_f1": float(np.mean(f[present])) if len(present) else 0.0,
        "samples_f1": float(f1_score(y_true, pred, average="samples", zero_division=0)),
        "mean_average_precision": float(np.mean([ap[k] for k in present])) if len(present) else 0.0,
        "subset_accuracy": float((pred == y_true).all(1).mean()),
        "n": int(len(y_true)),
        "labels": list(labels),
        "per_label": {
            label: {
                "precision": float(p[k]),
                "recall": float(r[k]),
                "f1": float(f[k]),
                "ap": ap[k],
                "support": int(s[k]),
                "threshold": float(t[k]),
            }
            for k, label in enumerate(labels)
        },
    }


def regression_metrics(y_true, y_pred) -> dict:
    """{"mae", "rmse", "r2", "n"} of predictions against targets (r2 is 0 for a constant target)."""
    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if len(y_true) == 0:
        return {"mae": 0.0, "rmse": 0.0, "r2": 0.0, "n": 0}
    err = y_pred - y_true
    total = ((y_true - y_true.mean()) ** 2).sum()
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "r2": float(1 - (err**2).sum() / total) if total > 0 else 0.0,
        "n": int(len(y_true)),
    }
