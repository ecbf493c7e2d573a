"""Zero-config epochs that fit the machine.

``train.epochs: auto`` means about 540,000 training samples' worth of epochs (``auto_epochs``): a fixed
amount of compute, so the same data and seed train the same steps everywhere. On a machine too slow to train
them within ``train.time_budget`` seconds (an fp32-only laptop CPU where the budget was set on one with bf16),
the run first times a few steps of a throwaway copy of itself and trains as many epochs as fit instead. The
number chosen is written into config.yaml, so a rerun from that file trains the same steps on any machine.
Frozen pretrained encoders are left alone where their epochs train only an output layer on features computed once;
a frozen encoder whose head holds more (EfficientNet-Lite0's last block: ``timed_head``) is timed as the rest.
"""

from __future__ import annotations

import contextlib

import torch

from lamina.common.config import Config, TrainConfig
from lamina.common.errors import ConfigError
from lamina.data.task import TASK_KINDS
from lamina.data.dataset import PreparedData
from lamina.models.registry import TRAIN_DEFAULTS, registered, train_defaults
from lamina.training.distributed import Dist
from lamina.training.engine import Engine
from lamina.training.run import NullRun
from lamina.training.trainer import Trainer


AUTO_EPOCH_SAMPLES = 540_000  # training samples seen with train.epochs=auto (benchmarks/DEFAULTS.md)
AUTO_EPOCH_RANGE = TRAIN_DEFAULTS["epoch_range"]  # (5, 30); a model may have its own (tables: more passes)


def auto_epochs(epochs: int | str, n_train: int, span: tuple[int, int] = AUTO_EPOCH_RANGE) -> int:
    """``epochs`` itself, or for 'auto' the epochs that show the model ~540k training samples.

    Within ``span`` (the model's epoch_range): small sets get up to 30 epochs (digits: 1,437 images -> 30), large
    ones at least 5
    (Fashion-MNIST: 54,000 -> 10): a fixed amount of compute rather than of passes, so the
    zero-config run on a large set ends in minutes on a laptop CPU.
    """
    if epochs != "auto":
        return int(epochs)
    lo, hi = span
    return max(lo, min(hi, round(AUTO_EPOCH_SAMPLES / max(1, n_train))))


def resolve_train(tc: TrainConfig, model: str, n_train: int, task: str = "classification") -> TrainConfig:
    """``tc`` with epochs, batch sizes, learning rate and monitor written in for the registered ``model``,
    ``n_train`` training samples and the ``task``: 'auto' epochs (see auto_epochs), the model's batch size,
    lr and evaluation batch size where they are None, the model's monitor (else the task's metric) for 'auto'.
    batch_size 'auto' stays (the loop probes memory for it).

    Raises:
        ConfigError: a monitor the task does not have (r2 for a classifier).
    """
    own = train_defaults(model)
    filled = {k: own[k] for k in ("batch_size", "lr", "eval_batch_size", "label_smoothing") if getattr(tc, k) is None}
    rules = TASK_KINDS[task]
    monitor = (own["monitor"] or rules.monitor) if tc.monitor == "auto" else tc.monitor
    if monitor != "loss" and monitor not in rules.monitors:
        raise ConfigError(
            f"config: train.monitor: a {task} task has no '{monitor}'; use auto, loss or {' or '.join(rules.monitors)}"
        )
    return tc.model_copy(
        update={"epochs": auto_epochs(tc.epochs, n_train, tuple(own["epoch_range"])), "monitor": monitor, **filled}
    )


def epochs_within_budget(cfg: Config, data: PreparedData, requested_epochs) -> tuple[Config, dict | None]:
    """``cfg`` with fewer epochs when ``requested_epochs`` was 'auto' and the resolved epochs would take longer than
    ``train.time_budget`` here; and what was measured (None when nothing was: explicit epochs, no budget, a frozen
    encoder)."""
    tc = cfg.train
    if requested_epochs != "auto" or tc.time_budget is None or _untimed_frozen_head(cfg) or data.prep.encoded_once:
        return cfg, None
    seconds = measure_epoch_seconds(cfg, data)
    fits = max(1, int(tc.time_budget // max(seconds, 1e-9)))
    chosen = min(fits, tc.epochs)
    info = {
        "epoch_seconds": round(seconds, 3),
        "auto_epochs": tc.epochs,
        "time_budget": tc.time_budget,
        "epochs": chosen,
    }
    return cfg.model_copy(update={"train": tc.model_copy(update={"epochs": chosen})}), info


def measure_epoch_seconds(cfg: Config, data: PreparedData) -> float:
    """Seconds one epoch of ``cfg`` takes on this machine (one process), from a throwaway trainer. The random
    generators are restored afterwards: the real run draws exactly as it would without the probe."""
    state = torch.get_rng_state()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        trainer = Trainer(cfg, data, NullRun(), None, Engine.create(cfg.train, Dist(), True), None, None)
        with contextlib.closing(trainer.progress):
            return trainer.seconds_per_epoch(cfg.train.time_budget)
    finally:
        torch.set_rng_state(state)
        torch.use_deterministic_algorithms(was_deterministic)


def _untimed_frozen_head(cfg: Config) -> bool:
    """A frozen pretrained encoder whose head is an output layer alone: its epochs are not worth timing."""
    spec = registered().get(cfg.model.name)
    return spec is not None and spec.pretrained and bool(cfg.model.freeze) and not spec.timed_head
