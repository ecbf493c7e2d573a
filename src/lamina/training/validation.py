"""Prediction over a split and one epoch's validation figures (the trainer runs the loop; lamina.training.budget
says how many epochs).
"""

from __future__ import annotations

import torch

from lamina.data.batches import eval_batches
from lamina.data.dataset import SplitData
from lamina.data.task import Task
from lamina.models.modality import feed
from lamina.training.figures import FIGURES
from lamina.training.objective import Objective
from lamina.training.engine import autocast


@torch.no_grad()
def predict_split(
    model: torch.nn.Module,
    split: SplitData,
    device: str,
    precision: str,
    batch_size: int = 512,
    objective: Objective | None = None,
) -> tuple[torch.Tensor, float]:
    """Raw outputs (N, outputs) as float32 on CPU and the mean plain loss of ``objective`` (default: cross-entropy)."""
    model.eval()
    objective = objective or Objective(Task("classification"))
    out, loss_sum = None, 0.0
    fed = feed(split)
    for idx in eval_batches(len(split), batch_size, fed.lengths(split.x)):
        with autocast(device, precision):
            logits = model(fed.model_input(split.x[idx], device)).float()
        loss_sum += objective.loss(logits, split.y[idx].to(device), reduction="sum", plain=True).item()
        if out is None:
            out = torch.empty((len(split), logits.shape[1]))
        out[idx] = logits.cpu()
    return (out if out is not None else torch.zeros((0, 0))), loss_sum / max(1, len(split))


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    val: SplitData,
    objective: Objective,
    device: str,
    precision: str,
    monitor: str,
    batch_size: int = 512,
) -> dict:
    """Val loss and the task's cheap metrics for one epoch: accuracy (and macro-F1 when it is the monitored metric),
    micro-F1 and subset accuracy at 0.5 (multi-label), MAE, RMSE and R2 (regression)."""
    out, loss = predict_split(model, val, device, precision, batch_size, objective)
    task = objective.task
    return {"loss": loss, "n": len(val), **FIGURES[task.kind].cheap(task, out, val.y, monitor)}
