"""Which labels are likely wrong, from out-of-fold probabilities: confident learning (Northcutt, Jiang and Chuang,
2021), written here from the paper.

Given each sample's predicted probabilities from a model that never trained on it (``probs`` (N, K); in a review,
blended with its neighbours' labels: lamina.training.neighbours) and its given label:

1. each class's threshold is the mean probability of that class over the samples labelled with it (how confident
   the model is, on average, when the label is right);
2. a sample is counted as "confidently of class j" when its probability of j reaches j's threshold (the highest
   such j when several do); counting (given label, confident class) pairs gives the confident joint;
3. the joint, scaled to the given labels' counts, estimates how many samples of label i truly are j; that many
   samples labelled i, those with the largest margin p(j) - p(i), are flagged (prune by noise rate).

Every sample is ranked by its self-confidence (the probability of its given label, lowest first); the flag says
which of them confident learning counts as mislabelled. (Ranking the flagged ones first measured lower precision
at k on two of three dev sets and equal on the third: benchmarks/DEFAULTS.md.)
"""

from __future__ import annotations

import numpy as np


def class_thresholds(probs: np.ndarray, given: np.ndarray) -> np.ndarray:
    """(K,) the mean probability of each class over the samples labelled with it (1.0 for a class none carry)."""
    k = probs.shape[1]
    out = np.ones(k)
    for j in range(k):
        mine = given == j
        if mine.any():
            out[j] = probs[mine, j].mean()
    return out


def confident_joint(probs: np.ndarray, given: np.ndarray) -> np.ndarray:
    """(K, K) counts of samples by (given label, the class they are confidently of); samples confident of no class
    are not counted."""
    k = probs.shape[1]
    above = probs >= class_thresholds(probs, given)[None, :]
    confident = np.where(above, probs, -1.0).argmax(1)
    counted = above.any(1)
    joint = np.zeros((k, k), np.int64)
    np.add.at(joint, (given[counted], confident[counted]), 1)
    return joint


def flagged(probs: np.ndarray, given: np.ndarray) -> np.ndarray:
    """(N,) bool: the samples confident learning calls mislabelled (prune by noise rate)."""
    n, k = probs.shape
    joint = confident_joint(probs, given).astype(np.float64)
    per_label = np.bincount(given, minlength=k).astype(np.float64)
    rows = joint.sum(1, keepdims=True)
    calibrated = np.divide(joint, rows, out=np.zeros_like(joint), where=rows > 0) * per_label[:, None]
    out = np.zeros(n, bool)
    for i in range(k):
        mine = np.flatnonzero(given == i)
        for j in range(k):
            take = int(round(calibrated[i, j]))
            if j == i or take == 0 or len(mine) == 0:
                continue
            margin = probs[mine, j] - probs[mine, i]
            out[mine[np.argsort(-margin, kind="stable")[:take]]] = True
    # a sample whose given label is still its most likely one is not a label error, whatever the count says
    out &= probs.argmax(1) != given
    return out


def review_ranking(probs: np.ndarray, given: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order most suspect first, flagged (N,) bool, suggested label (N,)): by the probability of the given label,
    lowest first. The suggestion is the most likely other label for a flagged sample, the most likely label for the
    rest."""
    n = len(given)
    others = probs.copy()
    others[np.arange(n), given] = -np.inf
    best_other = others.argmax(1)
    issues = flagged(probs, given)
    order = self_confidence_ranking(probs, given)
    suggested = np.where(issues, best_other, probs.argmax(1))
    return order, issues, suggested


def self_confidence_ranking(probs: np.ndarray, given: np.ndarray) -> np.ndarray:
    """The plain ranking to compare with: lowest probability of the given label first."""
    return np.argsort(probs[np.arange(len(given)), given], kind="stable")
