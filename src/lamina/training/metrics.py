"""Classification metrics from scikit-learn, in the JSON shape the CLI prints."""

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
        return {"accuracy": 0.0, "macro_f1": 0.0, "n": 0, "labels": list(labels), "per_class": {}, "confusion_matrix": []}
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
