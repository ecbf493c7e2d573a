"""Probabilities that mean what they say: temperature scaling (Guo et al., 2017) fit on the val split, and the
expected calibration error (ECE) that measures it.

A classifier's raw outputs are divided by one temperature before the softmax (a multi-label model's before each
sigmoid): the ranking of the labels, so the accuracy, is unchanged, only the confidence moves. The temperature is
the one that minimises the val split's negative log-likelihood; it lives on the task (lamina.data.task), so the
exported graph, ``lamina predict`` and the server all answer calibrated probabilities.
"""

from __future__ import annotations

import math

import numpy as np

ECE_BINS = 15  # equal-width confidence bins (the usual choice since Guo et al.)
LOG_T_RANGE = (math.log(0.005), math.log(200.0))  # the temperatures searched (label smoothing trains T ~ 0.05)
SEARCH_STEPS = 60  # golden-section steps: the bracket shrinks to ~1e-12 of its width


def fit_temperature(logits: np.ndarray, y: np.ndarray, kind: str) -> float:
    """The temperature that minimises the negative log-likelihood of ``y`` under ``logits`` / T.

    ``kind`` "classification" (``y`` label indices, softmax) or "multilabel" (``y`` 0/1 per label, a sigmoid each).
    The likelihood is unimodal in log T, so a golden-section search finds it without a learning rate.

    The targets are smoothed by 1 / (n + 2) (Laplace's rule of succession: after n right answers, the next is wrong
    with probability about 1 / (n + 2)). Without it a val split the model gets all right drives T to its smallest
    value and every probability to exactly 1.0 in float32, which no explanation or threshold can read.
    """
    logits = np.asarray(logits, np.float64)
    smoothing = 1.0 / (len(logits) + 2)
    loss = _softmax_nll if kind == "classification" else _sigmoid_nll
    nll = lambda z, y: loss(z, y, smoothing)  # noqa: E731
    lo, hi = LOG_T_RANGE
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(logits / math.exp(a), y), nll(logits / math.exp(b), y)
    for _ in range(SEARCH_STEPS):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(logits / math.exp(a), y)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(logits / math.exp(b), y)
    return float(math.exp((lo + hi) / 2))


def _softmax_nll(z: np.ndarray, y: np.ndarray, smoothing: float) -> float:
    z = z - z.max(1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    right = log_p[np.arange(len(y)), np.asarray(y, np.int64)]
    return float(-((1 - smoothing) * right + smoothing * log_p.mean(1)).mean())


def _sigmoid_nll(z: np.ndarray, y: np.ndarray, smoothing: float) -> float:
    target = np.asarray(y, np.float64) * (1 - smoothing) + smoothing / 2
    # log(1 + e^-z) for positives, log(1 + e^z) for negatives, written so neither overflows
    return float((np.logaddexp(0, z) - target * z).mean())


def reliability(scores: np.ndarray, y: np.ndarray, kind: str, bins: int = ECE_BINS) -> dict:
    """ECE and its bins: {"ece", "bins": [{"confidence", "accuracy", "count"} per non-empty bin]}.

    A classifier's confidence is its top probability, right when that label is the true one; a multi-label model's
    every label probability is a yes/no forecast of its own (confidence p, right when the label applies)."""
    scores = np.asarray(scores, np.float64)
    if kind == "classification":
        confidence = scores.max(1) if len(scores) else np.zeros(0)
        right = (scores.argmax(1) == np.asarray(y)).astype(np.float64) if len(scores) else np.zeros(0)
    else:
        confidence, right = scores.ravel(), (np.asarray(y) > 0.5).ravel().astype(np.float64)
    if len(confidence) == 0:
        return {"ece": 0.0, "bins": []}
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        if count:
            conf, acc = float(confidence[inside].mean()), float(right[inside].mean())
            ece += count / len(confidence) * abs(conf - acc)
            table.append({"confidence": conf, "accuracy": acc, "count": count})
    return {"ece": float(ece), "bins": table}
