"""The training loop's helpers: how many epochs 'auto' means, the resolved training settings, prediction over
a split, one epoch's validation figures, and audio batches' augmented features (trainer.py runs the loop).

What it does not know about: where data came from (it gets tensors), the CLI, the model
package format (the caller writes it), serving.
"""

from __future__ import annotations

import torch

from lamina.common.config import TrainConfig
from lamina.common.errors import ConfigError
from lamina.data.batches import as_model_input, eval_batches, token_lengths
from lamina.data.dataset import SplitData
from lamina.data.task import TASK_KINDS, Task
from lamina.models.registry import train_defaults
from lamina.training.figures import FIGURES
from lamina.training.objective import Objective
from lamina.training.precision import autocast


AUTO_EPOCH_SAMPLES = 540_000  # training samples seen with train.epochs=auto (benchmarks/DEFAULTS.md)
AUTO_EPOCH_RANGE = (5, 30)


def auto_epochs(epochs: int | str, n_train: int) -> int:
    """``epochs`` itself, or for 'auto' the epochs that show the model ~540k training samples.

    Small sets get up to 30 epochs (digits: 1,437 images -> 30), large ones at least 5
    (Fashion-MNIST: 54,000 -> 10): a fixed amount of compute rather than of passes, so the
    zero-config run on a large set ends in minutes on a laptop CPU.
    """
    if epochs != "auto":
        return int(epochs)
    lo, hi = AUTO_EPOCH_RANGE
    return max(lo, min(hi, round(AUTO_EPOCH_SAMPLES / max(1, n_train))))


def resolve_train(tc: TrainConfig, model: str, n_train: int, task: str = "classification") -> TrainConfig:
    """``tc`` with epochs, batch sizes, learning rate and monitor written in for the registered ``model``,
    ``n_train`` training samples and the ``task``: 'auto' epochs (see auto_epochs), the model's batch size,
    lr and evaluation batch size where they are None, the task's metric for monitor 'auto'. batch_size
    'auto' stays (the loop probes memory for it).

    Raises:
        ConfigError: a monitor the task does not have (r2 for a classifier).
    """
    own = train_defaults(model)
    filled = {k: own[k] for k in ("batch_size", "lr", "eval_batch_size", "label_smoothing") if getattr(tc, k) is None}
    rules = TASK_KINDS[task]
    monitor = rules.monitor if tc.monitor == "auto" else tc.monitor
    if monitor != "loss" and monitor not in rules.monitors:
        raise ConfigError(
            f"config: train.monitor: a {task} task has no '{monitor}'; use auto, loss or {' or '.join(rules.monitors)}"
        )
    return tc.model_copy(update={"epochs": auto_epochs(tc.epochs, n_train), "monitor": monitor, **filled})


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
    for idx in eval_batches(len(split), batch_size, token_lengths(split.x)):
        with autocast(device, precision):
            logits = model(as_model_input(split.x[idx], device)).float()
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
