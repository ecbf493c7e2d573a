"""From labeled samples to the task's labels: labels found in train, a regression target's scale, the stratified
split, and the checks that name what is wrong (a label only in val/test, a target that is not a number)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from lamina.common.config import DataConfig
from lamina.common.errors import DataError
from lamina.data.layout import Sample
from lamina.data.split import assign_splits
from lamina.data.task import TASK_KINDS, Task, number, strata


def make_task(kind: str, path, samples: list[Sample], assignment: dict[str, str], target: str) -> Task:
    """The task of a training set: its labels as found in train (an error for labels only in val/test, or for
    fewer than 2 single labels), or a regression target's train mean and std (an error naming a non-numeric row)."""
    train, rules = [s.label for s in samples if assignment[s.key] == "train"], TASK_KINDS[kind]
    if rules.numeric:
        values = np.array([number(c) for c in train], dtype=np.float64)
        return Task(kind, [target], float(values.mean()), float(values.std()) or 1.0)
    found = {label for s in samples for label in rules.cell_labels(s.label)}
    return Task(
        kind,
        check_labels(path, {label for c in train for label in rules.cell_labels(c)}, found, minimum=rules.min_labels),
    )


def check_numbers(path, samples: list[Sample]) -> None:
    bad = next((s for s in samples if number(s.label) is None), None)
    if bad is not None:
        raise DataError(
            f"{path}: {bad.key}: target '{bad.label[:40]}' is not a number; every row of a regression task needs "
            "one (data.task=regression). Fix the row, or set data.task=classification."
        )


def split_samples(cfg: DataConfig, samples: list[Sample], kind: str, seed: int) -> dict[str, str]:
    if TASK_KINDS[kind].numeric:
        check_numbers(cfg.path, samples)
    return assign_splits(samples, cfg.val_fraction, cfg.test_fraction, seed, strata(kind, [s.label for s in samples]))


def check_labels(path, train_labels: set, all_labels: set, minimum: int = 2) -> list[str]:
    """The sorted train labels; raises DataError for fewer than ``minimum`` (multi-label: 1) or labels only in val/test."""
    labels = sorted(train_labels)
    if len(labels) < minimum:
        raise DataError(
            f"{path}: found {len(labels)} class ({', '.join(labels) or 'none'}) in the training data; "
            f"a classifier needs at least {minimum} class folders (or labels)."
        )
    others = sorted(all_labels - train_labels)
    if others:
        raise DataError(f"{path}: labels {others} appear in val/test but not in train. Add training samples for them.")
    return labels


def balance_labels(task: Task, samples: list[Sample]) -> list[str] | None:
    """The labels the balance checks count: single labels, a multi-label sample's rarest; None for regression."""
    return None if task.rules.numeric else strata(task.kind, [s.label for s in samples])


def check_known(samples: list[Sample], task: Task, path) -> None:
    if task.rules.numeric:
        return check_numbers(path, samples)
    labels, named = task.labels, task.rules.cell_labels
    known = set(labels)
    unknown = Counter(x for s in samples for x in named(s.label) if x not in known)
    if unknown:
        label, n = unknown.most_common(1)[0]
        example = next(
            f"{s.path} {s.key}" if s.key.startswith("row ") else str(s.path) for s in samples if label in named(s.label)
        )
        raise DataError(
            f"{path}: label '{label}' ({n} samples, e.g. {example}) is not one of the model's labels {labels}. "
            "Evaluate on data whose labels the model knows."
        )


def integer_targets(task: Task, requested: str, train: list[Sample]) -> list[dict]:
    """A warning when ``data.task: auto`` read whole numbers as regression targets: they may be class ids."""
    if not task.rules.numeric or requested != "auto" or not all(float(number(s.label)).is_integer() for s in train):
        return []
    distinct = len({number(s.label) for s in train})
    return [
        {
            "level": "warning",
            "kind": "integer-targets",
            "message": f"the label column holds {distinct} distinct whole numbers, read as regression targets (more than 20 "
            "distinct numbers); if they are class ids, set data.task=classification",
        }
    ]
