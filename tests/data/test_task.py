"""The task object: reading label cells, stratification, targets, answers."""

import numpy as np
import pytest

from lamina.data.task import Task, cell_text, detect, label_set, strata


@pytest.mark.parametrize(
    "cells, kind",
    [
        (["a", "b", "a"], "classification"),
        (["news; sport", "tech"], "multilabel"),
        (["a|b", "c"], "multilabel"),
        ([["a", "b"], ["c"]], "multilabel"),  # JSONL lists
        ([str(v) for v in range(25)], "regression"),
        ([str(v) for v in range(1, 6)] * 5, "classification"),  # star ratings: 5 distinct numbers
        ([str(v) for v in range(25)] + ["n/a"], "classification"),  # not every cell a number
        ([f"{v / 10}" for v in range(21)] + ["nan"], "classification"),
    ],
)
def test_detects_the_task_from_the_cells(cells, kind):
    assert detect(cells) == kind
    assert detect(cells, "regression") == "regression"  # explicit wins


def test_label_cells_split_and_join():
    assert label_set(" b ; a|b ") == ["a", "b"] and label_set("") == []
    assert cell_text(["x", " y "]) == "x; y" and cell_text(None) == "" and cell_text(3.5) == "3.5"


def test_strata_keep_rare_labels_and_deciles_in_proportion():
    assert strata("multilabel", ["a; b", "a", "", "a; c"]) == ["b", "a", "(none)", "c"]
    values = [str(v) for v in range(100)]
    bins = strata("regression", values)
    assert bins[0] == "0" and bins[-1] == "9" and len(set(bins)) == 10


def test_targets_and_answers_per_task():
    multi = Task("multilabel", ["a", "b", "c"], thresholds=[0.5, 0.2, 0.9])
    y = multi.targets(["a; c", "", "b"])
    assert y.dtype == np.float32 and y.tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0]]
    answer = multi.answer(np.array([[0.6, 0.3, 0.8]]))[0]
    assert answer["labels"] == ["a", "b"] and answer["scores"] == pytest.approx({"a": 0.6, "b": 0.3, "c": 0.8})
    assert multi.decided(np.array([[0.6, 0.3, 0.8], [0.1, 0.1, 0.1]])) == ["a; b", ""]
    reg = Task("regression", ["age"], mean=30.0, std=10.0)
    assert reg.outputs == 1 and reg.targets(["1.5", "-2"]).tolist() == [1.5, -2.0]
    assert reg.answer(np.array([[41.25]])) == [{"value": 41.25}]
    single = Task("classification", ["x", "y"])
    assert single.targets(["y", "x"]).tolist() == [1, 0] and single.answer(np.array([[0.2, 0.8]]), 1)[0]["label"] == "y"


def test_round_trip_through_the_package_meta():
    for task in (
        Task("multilabel", ["a", "b"], thresholds=[0.3, 0.7]),
        Task("regression", ["price"], 12.5, 3.0),
        Task("classification", ["a", "b"]),
    ):
        again = Task.from_meta({"labels": task.labels, "task": task.to_dict()})
        assert (again.kind, again.labels, again.mean, again.std) == (task.kind, task.labels, task.mean, task.std)
        assert again.thresholds == (task.thresholds if task.kind == "multilabel" else None)
    assert Task.from_meta({"labels": ["a", "b"]}).kind == "classification"  # packages written before tasks
