"""The network's raw outputs -> what a task answers with: softmax, sigmoid, or the target's own units.

Used wherever a trained model is applied (evaluation, ``lamina predict``, the exported ONNX
graph), so every path turns outputs into scores the same way. Training works on the raw
outputs (lamina.training.objective).
"""

from __future__ import annotations

import torch

from lamina.data.task import Task


def _softmax(task: Task, out: torch.Tensor) -> torch.Tensor:
    return torch.softmax(out, dim=1)


def _sigmoid(task: Task, out: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(out)


def _scaled_back(task: Task, out: torch.Tensor) -> torch.Tensor:
    return out * task.std + task.mean  # the network predicts in units of the train split's standard deviation


# per task kind (data/task.py)
ACTIVATIONS = {
    "classification": _softmax,
    "multilabel": _sigmoid,
    "regression": _scaled_back,
}


def activate(task: Task, out: torch.Tensor) -> torch.Tensor:
    """(N, outputs) raw -> (N, outputs) scores: class probabilities, per-label probabilities, or predicted values."""
    return ACTIVATIONS[task.kind](task, out)
