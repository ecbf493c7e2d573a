"""What training minimises and counts: the run's settings (label smoothing, ``train.class_weights``) around each
task kind's loss, hits and automatic weights (lamina.models.output)."""

from __future__ import annotations

import torch

from lamina.common.errors import ConfigError
from lamina.data.task import Task
from lamina.models.network import ensemble_answer, per_member
from lamina.models.output import output_of


class Objective:
    """The loss and hit count of one task; ``weights`` are class weights (classification) or positive weights
    (multilabel), (K,) float32, or None. Per task kind: lamina.models.output."""

    def __init__(self, task: Task, label_smoothing: float | None = 0.0, weights: torch.Tensor | None = None):
        self.task, self.smoothing, self.weights = task, label_smoothing or 0.0, weights

    @property
    def hit_name(self) -> str | None:
        """What ``hits`` counts, as the train metric is logged: None for regression."""
        return self.task.rules.hit_name

    def loss(self, out: torch.Tensor, y: torch.Tensor, reduction: str = "mean", plain: bool = False) -> torch.Tensor:
        """out: (B, outputs) float32 raw outputs, or each member's (B, members, outputs) (the mean of their losses);
        y: the task's targets. ``plain``: no smoothing or weights (the validation and evaluation loss, comparable
        across settings)."""
        out, y = per_member(out, y)
        w = None if plain or self.weights is None else self.weights.to(out.device)
        return output_of(self.task).loss(self.task, out, y, w, reduction, 0.0 if plain else self.smoothing)

    def hits(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Right answers in a batch: the top label, or the whole label set at 0.5; 0 for regression."""
        return output_of(self.task).hits(ensemble_answer(out), y)


def class_weights(task: Task, y: torch.Tensor, setting) -> torch.Tensor | None:
    """The weights of ``train.class_weights`` for train targets ``y``: None ('none', regression, or 'auto' on
    balanced data), inverse-frequency ** 0.5 normalised to mean 1 ('auto' on imbalanced data; multilabel:
    (negatives / positives) ** 0.5 per label, at most 10), or given per label ({label: w}, 1 for the rest).

    Raises:
        ConfigError: a weight for a label the data does not have, or a task without labels.
    """
    if setting == "none" or (task.rules.numeric and setting == "auto"):
        return None
    if task.rules.numeric:
        raise ConfigError(f"config: train.class_weights: a {task.kind} task has no classes; leave it auto or none")
    if isinstance(setting, dict):
        unknown = sorted(set(setting) - set(task.labels))
        if unknown:
            raise ConfigError(
                f"config: train.class_weights: labels {unknown[:5]} are not in the data; labels: {task.labels[:20]}"
            )
        return torch.tensor([float(setting.get(label, 1.0)) for label in task.labels], dtype=torch.float32)
    return output_of(task).auto_weights(task, y)
