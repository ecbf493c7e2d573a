"""A second opinion on every label, for a label review: what the sample's nearest neighbours in a frozen encoder's
embedding are labelled, blended with the out-of-fold probabilities by how well the blend explains the given labels.

The neighbours' view is leave-one-out: a sample's own label never counts towards its own share. It costs no
training (the features are the ones the folds already encoded) and sees every other sample, where a fold's model
saw four fifths of them; a head and a nearest-neighbour vote are wrong about different samples, so a sample both
doubt is more likely mislabelled than one only the head doubts. The blend's weight is the one, of 0 to 0.95 in
steps of 0.05, under which the given labels are most likely (mean log-probability): where the embedding does not
separate the labels (the neighbours agree with them less often than the head does) it falls to 0 and the review is
the head's alone. Measured in benchmarks/DEFAULTS.md.
"""

from __future__ import annotations

import numpy as np

NEIGHBOURS = 50  # the k of the vote
WEIGHTS = np.arange(0.0, 0.951, 0.05)  # the blend's weights tried
ROWS_AT_ONCE = 1024  # similarities computed in blocks of this many samples


def neighbour_probs(features: np.ndarray, given: np.ndarray, classes: int, k: int = NEIGHBOURS) -> np.ndarray:
    """(N, classes) each sample's share of each label among its ``k`` nearest other samples (cosine), smoothed
    towards uniform by half a vote; ``k`` is capped at N - 1."""
    n = len(given)
    k = min(k, n - 1)
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    votes = np.zeros((n, classes))
    for start in range(0, n, ROWS_AT_ONCE):
        sim = unit[start : start + ROWS_AT_ONCE] @ unit.T  # (rows, N)
        rows = np.arange(len(sim))
        sim[rows, start + rows] = -np.inf  # not its own neighbour
        near = np.argpartition(-sim, k - 1, axis=1)[:, :k]  # (rows, k)
        np.add.at(votes, (start + rows[:, None], given[near]), 1.0)
    return (votes + 0.5 / classes) / (k + 0.5)


def blend(probs: np.ndarray, neighbours: np.ndarray, given: np.ndarray) -> tuple[np.ndarray, float]:
    """(the blend (1 - w) probs + w neighbours, w): w is the weight of WEIGHTS under which the given labels' mean
    log-probability is highest (the first such, so 0 on a tie)."""
    rows = np.arange(len(given))
    fit = [np.log((1 - w) * probs[rows, given] + w * neighbours[rows, given] + 1e-12).mean() for w in WEIGHTS]
    w = float(WEIGHTS[int(np.argmax(fit))])
    return (1 - w) * probs + w * neighbours, w
