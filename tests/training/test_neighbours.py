"""A label review's second opinion: the labels of a sample's nearest neighbours in a frozen embedding, and the blend
that weighs them by how well they explain the given labels."""

from __future__ import annotations

import numpy as np

from lamina.training.neighbours import blend, neighbour_probs


def _clusters(n_per: int = 60, k: int = 3, spread: float = 0.3, seed: int = 0):
    """``k`` well separated clusters in 8 dimensions; (features, true labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (k, 8)) * 3
    truth = np.repeat(np.arange(k), n_per)
    return centres[truth] + rng.normal(0, spread, (len(truth), 8)), truth


def test_a_sample_is_not_its_own_neighbour():
    features = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.01, 1.0]])
    given = np.array([0, 1, 1, 1])
    votes = neighbour_probs(features, given, 2, k=1)
    # sample 0's one neighbour is sample 1 (label 1), and sample 1's is sample 0 (label 0): no self-vote
    assert votes[0].argmax() == 1 and votes[1].argmax() == 0
    assert np.allclose(votes.sum(1), 1.0)


def test_a_flipped_sample_among_its_cluster_gets_a_low_share_of_its_label():
    features, truth = _clusters()
    given = truth.copy()
    given[[5, 70, 150]] = [1, 2, 0]
    votes = neighbour_probs(features, given, 3, k=10)
    rows = np.arange(len(given))
    share = votes[rows, given]
    assert set(np.argsort(share)[:3].tolist()) == {5, 70, 150}
    assert (votes[[5, 70, 150]].argmax(1) == truth[[5, 70, 150]]).all()


def test_the_blend_weighs_neighbours_that_explain_the_labels_and_ignores_ones_that_do_not():
    features, truth = _clusters()
    rows = np.arange(len(truth))
    rng = np.random.default_rng(1)
    unsure = np.full((len(truth), 3), 0.2)  # a model that is right but unsure
    unsure[rows, truth] = 0.6
    helpful = neighbour_probs(features, truth, 3, k=10)
    mixed, w = blend(unsure, helpful, truth)
    assert w > 0.5 and (mixed[rows, truth] > unsure[rows, truth]).all()
    noise = neighbour_probs(rng.normal(0, 1, features.shape), truth, 3, k=10)  # an embedding that knows nothing
    same, w = blend(unsure, noise, truth)
    assert w == 0.0 and np.array_equal(same, unsure)
