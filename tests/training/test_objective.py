"""Losses, class weights, thresholds and the metrics of multi-label and regression tasks."""

import numpy as np
import pytest
import torch

from lamina.common.errors import ConfigError
from lamina.data.task import Task
from lamina.training.metrics import multilabel_metrics, regression_metrics, tune_thresholds
from lamina.training.objective import Objective, class_weights


def test_regression_loss_is_huber_on_standardised_targets():
    task = Task("regression", ["y"], mean=10.0, std=2.0)
    out = torch.tensor([[0.0], [3.0]])
    y = torch.tensor([10.0, 12.0])  # standardised: 0 and 1
    expected = torch.nn.functional.smooth_l1_loss(out[:, 0], torch.tensor([0.0, 1.0]))
    assert Objective(task).loss(out, y).item() == pytest.approx(expected.item())
    assert Objective(task).hits(out, y).item() == 0


def test_multilabel_loss_and_hits():
    task = Task("multilabel", ["a", "b"])
    out = torch.tensor([[5.0, -5.0], [5.0, 5.0]])
    y = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert Objective(task).hits(out, y).item() == 1  # the whole set right on the first row only
    weighted = Objective(task, weights=torch.tensor([1.0, 4.0])).loss(torch.zeros(1, 2), torch.tensor([[0.0, 1.0]]))
    # summed over labels, the positive weighted
    assert weighted.item() == pytest.approx(np.log(2) + 4 * np.log(2), rel=1e-5)


def test_class_weights_auto_only_when_imbalanced():
    task = Task("classification", ["a", "b", "c"])
    assert class_weights(task, torch.tensor([0, 1, 2] * 10), "auto") is None
    w = class_weights(task, torch.tensor([0] * 100 + [1] * 10 + [2] * 10), "auto")
    assert w[1] > w[0] and w[1] == pytest.approx(w[2]) and w.mean().item() == pytest.approx(1.0)
    assert class_weights(task, torch.tensor([0] * 100 + [1] * 10 + [2] * 10), "none") is None
    assert class_weights(task, torch.tensor([0, 1, 2]), {"b": 3.0}).tolist() == [1.0, 3.0, 1.0]
    with pytest.raises(ConfigError, match=r"labels \['z'\] are not in the data"):
        class_weights(task, torch.tensor([0, 1, 2]), {"z": 2.0})
    with pytest.raises(ConfigError, match="regression task has no classes"):
        class_weights(Task("regression", ["y"]), torch.zeros(3), {"a": 1.0})
    multi = class_weights(Task("multilabel", ["a", "b"]), torch.tensor([[1.0, 0.0]] * 50 + [[1.0, 1.0]] * 5), "auto")
    assert multi[1] > multi[0] >= 1.0


def test_thresholds_maximise_each_labels_f1():
    scores = np.array([[0.9, 0.3], [0.8, 0.25], [0.2, 0.1], [0.1, 0.28]])
    y = np.array([[1, 1], [1, 1], [0, 0], [0, 1]])
    t = tune_thresholds(scores, y)
    assert t[0] == pytest.approx(0.5)  # anything in (0.2, 0.8] separates: the one nearest 0.5
    assert t[1] == pytest.approx(0.25)  # 0.25 catches all three positives and none of the negative
    assert tune_thresholds(scores, np.zeros((4, 2)))[0] == 0.5  # no positive in val: the default


def test_multilabel_and_regression_metrics():
    y = np.array([[1, 0], [1, 1], [0, 0]])
    scores = np.array([[0.9, 0.2], [0.7, 0.1], [0.2, 0.6]])
    m = multilabel_metrics(y, scores, ["a", "b"])
    # predictions at 0.5: {a}, {a}, {b}: tp 2, fp 1, fn 1 -> micro-F1 2/3
    assert m["micro_f1"] == pytest.approx(2 / 3) and m["subset_accuracy"] == pytest.approx(1 / 3)
    assert m["per_label"]["a"]["f1"] == pytest.approx(1.0) and m["per_label"]["b"]["support"] == 1
    assert m["mean_average_precision"] == pytest.approx((1.0 + 1 / 3) / 2)  # b: its positive scores lowest
    r = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    assert (
        r["mae"] == pytest.approx(2 / 3)
        and r["rmse"] == pytest.approx(np.sqrt(4 / 3))
        and r["r2"] == pytest.approx(1 - 4 / 2)
    )
