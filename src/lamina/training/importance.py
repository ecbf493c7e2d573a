"""Permutation importance of a model's input columns on the validation split: how much the task's monitored figure
drops when one column's values are shuffled across the split's rows (Breiman 2001; scikit-learn's
``permutation_importance``). The modality names the columns (``column_groups``: a table's columns; none for
images, audio or texts)."""

from __future__ import annotations

import torch

from lamina.data.prepared import PreparedData, SplitData
from lamina.models.output import activate
from lamina.training.evaluation import evaluate_scores
from lamina.training.objective import Objective
from lamina.training.validation import predict_split

REPEATS = 3  # shuffles per column, averaged


def column_importance(model: torch.nn.Module, data: PreparedData, batch_size: int, seed: int = 0) -> list[dict]:
    """[{"column", "importance", "spread"}] sorted most important first: the drop of the task's monitored figure
    (mean over REPEATS seeded shuffles, and its range); [] without columns or a val split."""
    groups, val = data.prep.column_groups(), data.splits.get("val")
    if not groups or val is None or len(val) < 2:
        return []
    task, metric = data.task, data.task.rules.monitor
    objective = Objective(task)
    x = val.x[torch.arange(len(val))]

    def figure(rows: torch.Tensor) -> float:
        out, _ = predict_split(model, SplitData(rows, val.y, val.keys, val.form), "cpu", "fp32", batch_size, objective)
        return float(evaluate_scores(task, activate(task, out).numpy(), val.y.numpy())[metric])

    base, gen, found = figure(x), torch.Generator().manual_seed(seed), []
    for name, index in groups.items():
        drops = []
        for _ in range(REPEATS):
            shuffled = x.clone()
            shuffled[:, index] = x[torch.randperm(len(x), generator=gen)][:, index]
            drops.append(base - figure(shuffled))
        found.append({"column": name, "importance": sum(drops) / len(drops), "spread": max(drops) - min(drops)})
    return sorted(found, key=lambda f: -f["importance"])
