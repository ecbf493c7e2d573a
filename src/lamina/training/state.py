"""What a training run carries between steps, checkpoints and its caller: its state, a checkpoint to resume from,
and what fit returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lamina.models.network import FullNetwork
from lamina.training.checkpoint import optimizer_tensors, snapshot


@dataclass
class FitResult:
    model: FullNetwork  # with the best weights loaded, eval mode, on CPU
    best_epoch: int
    best_metric: tuple[float, float]
    epochs_run: int
    precision: str
    device: str
    train_seconds: float
    samples_per_s: float
    batch: dict  # {"batch_size", "micro_batch_size", "accumulation", "eval_batch_size"} as used


@dataclass
class TrainState:
    """Where training stands, saved in every checkpoint: enough to continue bit for bit."""

    epoch: int = 0  # the epoch in progress (or next to start)
    step_in_epoch: int = 0  # the next step of that epoch
    global_step: int = 0
    best_score: tuple = (float("-inf"), float("-inf"))
    best_epoch: int = -1
    stale: int = 0  # epochs since the best one
    seen: int = 0  # training samples processed in earlier epochs
    loss_sum: float = 0.0  # sums over the epoch in progress, for its logged averages
    correct: int = 0
    count: int = 0
    finished: bool = False  # all epochs done or early stopping fired
    metrics_bytes: int = 0  # length of metrics.jsonl when this state was saved
    micro_batch_size: int = 0  # chosen at the start (batch_size: auto probes memory) and kept on resume
    eval_batch_size: int = 0

    def to_json(self) -> dict:
        d = dict(self.__dict__)
        d["best_score"] = list(self.best_score)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "TrainState":
        fields = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        fields["best_score"] = tuple(fields.get("best_score", (float("-inf"),) * 2))
        return cls(**fields)


@dataclass
class Resume:
    """A checkpoint to continue from (see lamina.training.checkpoint.load_checkpoint)."""

    weights: dict
    tensors: dict
    state: dict
    best_weights: dict | None


def checkpoint_jobs(model, opt, aug_gen: torch.Generator, state: TrainState, best_weights: dict | None) -> list[tuple]:
    """Snapshots for a 'last' checkpoint, preceded by 'best' when a new best is not on disk yet.

    'best' goes first: a crash between the two leaves a 'last' that predates the new best,
    and the resumed run reaches the same best again (training is deterministic).
    """
    tensors, opt_meta = optimizer_tensors(opt)
    tensors = {k: v.clone() for k, v in tensors.items()}  # the optimizer keeps updating its own
    tensors.update({"rng.torch": torch.get_rng_state(), "rng.augment": aug_gen.get_state()})
    meta = {"train": state.to_json(), "optimizer": opt_meta}
    jobs = [("best", best_weights, {}, {"train": state.to_json()})] if best_weights is not None else []
    return jobs + [("last", snapshot(model), tensors, meta)]


class EpochSums:
    """This process's loss, hits and count since the epoch (or the resumed checkpoint) began, on the device;
    ``totals()`` adds them over ranks to the state's earlier totals, the same on every rank."""

    def __init__(self, st: TrainState, engine):
        self.base, self.engine = (st.loss_sum, st.correct, st.count), engine
        self.loss = torch.zeros((), device=engine.device)
        self.correct = torch.zeros((), dtype=torch.int64, device=engine.device)
        self.count = 0

    def totals(self) -> tuple[float, int, int]:
        lsum, corr, n = self.engine.sum([self.loss.item(), float(self.correct.item()), float(self.count)])
        return self.base[0] + lsum, self.base[1] + int(corr), self.base[2] + int(n)


def score_of(metrics: dict, loss: float, monitor: str) -> tuple[float, float]:
    """Higher is better; ties on the monitored metric (common for accuracy) go to the lower loss."""
    return (-loss, -loss) if monitor == "loss" else (metrics[monitor], -loss)
