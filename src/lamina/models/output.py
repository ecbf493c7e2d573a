"""The network's raw outputs -> what a task answers with: softmax, sigmoid, or the target's own units.

Used wherever a trained model is applied (evaluation, ``lamina predict``, the exported ONNX
graph), so every path turns outputs into scores the same way. Training works on the raw
outputs (lamina.training.objective).
"""

from __future__ import annotations

import torch

from lamina.data.task import Task


def activate(task: Task, out: torch.Tensor) -> torch.Tensor:
    """(N, outputs) raw -> (N, outputs) scores: class probabilities, per-label probabilities, or predicted values."""
    if task.kind == "multilabel":
        return torch.sigmoid(out)
    if task.kind == "regression":
        return out * task.std + task.mean  # the network predicts in units of the train split's standard deviation
    return torch.softmax(out, dim=1)
