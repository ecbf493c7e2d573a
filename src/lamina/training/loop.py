"""The training loop: one explicit loop over seeded batches, AdamW, a step-wise schedule,
bf16 autocast where the hardware has it, per-epoch validation, checkpoints, early stopping.

What it does not know about: where data came from (it gets tensors), the CLI, the model
package format (the caller writes it), serving.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass

import torch

from lamina.common.config import Config, TrainConfig
from lamina.common.errors import ConfigError
from lamina.common.progress import Progress
from lamina.common.runtime import resolve_device, set_threads
from lamina.data.augment import augment_audio, augment_batch, spec_augment, warp_banks, warped_mel
from lamina.data.batches import as_model_input, eval_batches, steps_per_epoch, token_lengths, train_batches
from lamina.data.dataset import PreparedData, SplitData
from lamina.data.task import Task
from lamina.models.kws import LogMel
from lamina.models.output import activate
from lamina.models.registry import Classifier, build_model, resolve, train_defaults
from lamina.training.distributed import Dist
from lamina.training.features import feature_key, frozen_features
from lamina.training.precision import autocast, resolve_precision
from lamina.training.checkpoint import CheckpointWriter, optimizer_tensors, restore_optimizer, snapshot
from lamina.training.memory import probe_batch_sizes
from lamina.training.metrics import classification_metrics, regression_metrics
from lamina.training.objective import Objective, class_weights
from lamina.training.optim import clip_gradients, lr_at, make_optimizer
from lamina.training.preempt import Preempted, sigterm_requests
from lamina.training.run import RunDir


@dataclass
class FitResult:
    model: Classifier  # with the best weights loaded, eval mode, on CPU
    best_epoch: int
    best_metric: tuple[float, float]
    epochs_run: int
    precision: str
    device: str
    train_seconds: float
    samples_per_s: float
    batch: dict  # {"batch_size", "micro_batch_size", "accumulation", "eval_batch_size"} as used


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


MONITOR = {"classification": "accuracy", "multilabel": "micro_f1", "regression": "r2"}  # train.monitor: auto
MONITORS = {"classification": ("accuracy", "macro_f1"), "multilabel": ("micro_f1",), "regression": ("r2",)}  # besides loss


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
    monitor = MONITOR[task] if tc.monitor == "auto" else tc.monitor
    if monitor != "loss" and monitor not in MONITORS[task]:
        raise ConfigError(f"config: train.monitor: a {task} task has no '{monitor}'; use auto, loss or {' or '.join(MONITORS[task])}")
    return tc.model_copy(update={"epochs": auto_epochs(tc.epochs, n_train), "monitor": monitor, **filled})


@torch.no_grad()
def predict_split(model: torch.nn.Module, split: SplitData, device: str, precision: str, batch_size: int = 512,
                  objective: Objective | None = None) -> tuple[torch.Tensor, float]:
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
def audio_features(model: Classifier, clips: torch.Tensor, cfg: Config, data: PreparedData, gen: torch.Generator,
                   device: str, banks: torch.Tensor) -> torch.Tensor:
    """A training batch of int16 clips (B, T) -> augmented features of the network's front end on the CPU.

    Waveform augmentation, the network's own front end with a randomly warped mel filterbank
    per clip (``banks``, see lamina.data.augment.warp_banks), then SpecAugment: the whole global
    batch on every rank, so torchrun ranks draw the same augmentation as one process would.
    """
    waves = augment_audio(clips, cfg.data.augment, gen, data.prep.sample_rate, data.noise)
    if not isinstance(model.normalize, LogMel):  # a pretrained model's own front end: waveform augmentation only
        return model.normalize(waves.to(device)).float().cpu()
    power = model.normalize.power(waves.to(device))
    feats = model.normalize.features(warped_mel(power, banks, gen)).float().cpu()
    return spec_augment(feats, cfg.data.augment, gen)


def validate(model: torch.nn.Module, val: SplitData, objective: Objective, device: str, precision: str, monitor: str,
             batch_size: int = 512) -> dict:
    """Val loss and the task's cheap metrics for one epoch: accuracy (and macro-F1 when it is the monitored metric),
    micro-F1 and subset accuracy at 0.5 (multi-label), MAE, RMSE and R2 (regression)."""
    out, loss = predict_split(model, val, device, precision, batch_size, objective)
    task = objective.task
    m = {"loss": loss, "n": len(val)}
    if task.kind == "regression":
        return {**m, **regression_metrics(val.y.numpy(), activate(task, out).numpy())}
    if task.kind == "multilabel":
        pred, truth = out > 0, val.y > 0.5
        tp = (pred & truth).sum().item()
        return {**m, "micro_f1": 2 * tp / max(1, pred.sum().item() + truth.sum().item()),
                "subset_accuracy": (pred == truth).all(1).float().mean().item()}
    pred = out.argmax(1)
    m["accuracy"] = (pred == val.y).float().mean().item()
    if monitor == "macro_f1":  # scikit-learn costs ~15 ms a call: only when it decides
        m["macro_f1"] = classification_metrics(val.y.numpy(), pred.numpy(), task.labels)["macro_f1"]
    return m


def _score(metrics: dict, loss: float, monitor: str) -> tuple[float, float]:
    """Higher is better; ties on the monitored metric (common for accuracy) go to the lower loss."""
    return (-loss, -loss) if monitor == "loss" else (metrics[monitor], -loss)


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


def _checkpoint_jobs(model, opt, aug_gen: torch.Generator, state: TrainState, best_weights: dict | None) -> list[tuple]:
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


def fit(cfg: Config, data: PreparedData, run: RunDir, writer: CheckpointWriter, progress_quiet: bool = False,
        resume: Resume | None = None, dist: Dist = Dist(), on_epoch=None) -> FitResult:
    """Train ``cfg.model`` on ``data``; writes metrics into ``run`` and checkpoints through ``writer``.
    ``cfg`` has its inferred values written in (session.fill_inferred: epochs, batch sizes, lr).

    With ``resume``, continues from that checkpoint exactly: same batches, same augmentation
    and dropout draws, same learning rates. The last checkpoint write may still be in flight
    on return (it overlaps the caller's final evaluation); the caller calls ``writer.wait()``.

    Under torchrun (``dist.active``) the model is wrapped in DistributedDataParallel, each rank
    trains on its slice of every global batch, and only rank 0 validates, logs and writes
    checkpoints; its validation score is broadcast so every rank stops at the same epoch.

    ``on_epoch(epoch, val_metrics)`` is called on rank 0 after each validation; returning
    True ends training there (a hyperparameter search pruning the trial).
    """
    model_cfg = resolve(cfg.model, data.modality)
    tc = cfg.train
    device = resolve_device(tc.device)
    if dist.active and device.startswith("cuda"):
        device = f"cuda:{dist.local_rank}"
    precision = resolve_precision(tc.precision, device)
    set_threads(tc.num_threads)
    was_deterministic = torch.are_deterministic_algorithms_enabled()  # a process-wide switch: restored on return
    if tc.deterministic:
        torch.use_deterministic_algorithms(True)
    torch.manual_seed(tc.seed)  # weight init and dropout draw from torch's default generator, saved in checkpoints
    train, val = data.splits["train"], data.splits.get("val")
    model = build_model(model_cfg, tuple(train.x.shape[1:]), data.task.outputs, data.mean, data.std,
                        data.modality, data.prep)
    objective = Objective(data.task, tc.label_smoothing, class_weights(data.task, train.y, tc.class_weights))
    model = model.to(device, memory_format=torch.channels_last) if data.modality == "image" else model.to(device)
    st, best_weights = TrainState(), None
    if resume is not None:
        st = TrainState.from_json(resume.state["train"])
    batch_size = train_defaults(model_cfg.name)["batch_size"] if tc.batch_size == "auto" else tc.batch_size
    if not st.micro_batch_size:  # a fresh run (a resumed one keeps the sizes it started with)
        st.micro_batch_size, st.eval_batch_size = min(tc.micro_batch_size or batch_size, batch_size), tc.eval_batch_size
        if tc.batch_size == "auto":  # probed before DDP wraps the model: no collective runs during the probe
            # eval_batch_size is the ceiling: larger evaluation batches are not faster (benchmarks/DEFAULTS.md)
            probe = probe_batch_sizes(model, torch.ones_like(train.x[:1]), device, lambda: autocast(device, precision),
                                      limit_train=-(-batch_size // dist.world), limit_eval=tc.eval_batch_size)
            st.micro_batch_size, st.eval_batch_size = dist.broadcast((probe["micro_batch_size"], probe["eval_batch_size"]))
    micro = st.micro_batch_size
    accumulation = -(-(batch_size // dist.world) // micro)
    step_model: torch.nn.Module = model  # what a training step runs
    eval_model: torch.nn.Module = model  # what validation runs
    if data.modality == "audio":  # steps take augmented log-mels of the global batch; the front end has no parameters
        step_model = model.net
        banks = warp_banks(data.prep, cfg.data.augment.warp)
    frozen = getattr(model.net, "freeze", False)
    if frozen:  # a frozen pretrained encoder: encode every text or image once, train only the head
        progress_note = time.perf_counter()
        key = feature_key(model, data.prep, precision) if data.modality == "image" and cfg.data.cache else None
        train, val = (frozen_features(model, sp, device, precision, st.eval_batch_size, key) if sp is not None else None
                      for sp in (train, val))
        step_model = eval_model = model.net.head
        if dist.main and not progress_quiet:
            print(f"frozen encoder: {len(train) + (len(val) if val is not None else 0)} {data.modality} samples encoded once in "
                  f"{time.perf_counter() - progress_note:.1f} s; training the output layer only", file=sys.stderr)
    lengths = token_lengths(train.x)
    net = torch.nn.parallel.DistributedDataParallel(step_model) if dist.active else step_model  # the training forward
    opt = make_optimizer(model, tc)
    aug_gen = torch.Generator().manual_seed(tc.seed + 1)
    if resume is not None:
        model.load_state_dict(resume.weights)
        restore_optimizer(opt, resume.tensors, resume.state["optimizer"])
        torch.set_rng_state(resume.tensors["rng.torch"])
        aug_gen.set_state(resume.tensors["rng.augment"])
        best_weights = resume.best_weights
        run.truncate_metrics(st.metrics_bytes)  # lines written after the checkpoint will be written again
    pending_best = False  # best_weights not yet on disk
    per_epoch = steps_per_epoch(len(train), batch_size)
    total_steps = per_epoch * tc.epochs
    progress = Progress(total_steps, "train", quiet=progress_quiet or not dist.main)
    if tc.batch_size == "auto" or accumulation > 1:
        progress.log(f"batch {batch_size}: {accumulation} micro-batch(es) of up to {micro} per step and process; "
                     f"evaluation batches of {st.eval_batch_size}")
    progress.update(st.global_step)
    t_start = last_save = time.perf_counter()
    seen_at_start = st.seen + st.count

    def save():
        nonlocal pending_best, last_save
        if not dist.main:
            return
        st.metrics_bytes = run.metrics_bytes()
        writer.submit(_checkpoint_jobs(model, opt, aug_gen, st, best_weights if pending_best else None))
        pending_best, last_save = False, time.perf_counter()

    # SIGTERM: checkpoint and stop after the current step (one process; torchrun's agent restarts its workers itself)
    handlers = contextlib.ExitStack()
    sigterm = handlers.enter_context(sigterm_requests()) if not dist.active else None
    try:
        while not st.finished and st.epoch < tc.epochs:
            epoch = st.epoch
            model.train()
            # This process's sums since the epoch (or the resumed checkpoint) began; st holds the
            # totals over all ranks up to then, so totals() is the same on every rank.
            base = (st.loss_sum, st.correct, st.count)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            local_count = 0

            def totals() -> tuple[float, int, int]:
                lsum, corr, n = dist.sum([loss_sum.item(), float(correct.item()), float(local_count)])
                return base[0] + lsum, base[1] + int(corr), base[2] + int(n)

            t_epoch = time.perf_counter()
            for step, idx in train_batches(len(train), batch_size, tc.seed, epoch, start_step=st.step_in_epoch, lengths=lengths):
                xb = train.x[idx]
                if data.modality == "image" and not frozen:  # frozen: xb holds the backbone's features
                    xb = augment_batch(xb, cfg.data.augment, aug_gen)
                elif data.modality == "audio" and not frozen:
                    xb = audio_features(model, xb, cfg, data, aug_gen, device, banks)
                xb = dist.shard(xb)
                yb = dist.shard(train.y[idx])
                lr = lr_at(st.global_step, total_steps, tc)
                for group in opt.param_groups:
                    group["lr"] = lr * group.get("lr_scale", 1.0)
                opt.zero_grad(set_to_none=True)
                starts = range(0, len(yb), micro)
                for j, start in enumerate(starts):  # one pass unless the batch is split into micro-batches
                    x = as_model_input(xb[start : start + micro], device)
                    y = yb[start : start + micro].to(device, non_blocking=True)
                    sync = contextlib.nullcontext() if j == len(starts) - 1 or not dist.active else net.no_sync()
                    with sync:
                        with autocast(device, precision):
                            logits = net(x)
                        loss = objective.loss(logits.float(), y)
                        (loss * (len(y) / len(yb)) if len(starts) > 1 else loss).backward()
                    loss_sum += loss.detach() * len(y)
                    correct += objective.hits(logits, y)
                    local_count += len(y)
                if tc.grad_clip:
                    clip_gradients(model, tc.grad_clip)
                opt.step()
                st.global_step += 1
                st.step_in_epoch = step + 1
                rate = local_count * dist.world / max(1e-9, time.perf_counter() - t_epoch)
                if st.global_step % tc.log_every == 0 or step == per_epoch - 1:
                    lsum, corr, n = totals()
                    hits = {objective.hit_name: corr / n} if objective.hit_name else {}
                    run.log_metrics({"step": st.global_step, "epoch": epoch, "split": "train", "loss": lsum / n, **hits,
                                     "lr": lr, "samples_per_s": rate})
                progress.update(1, epoch=epoch + 1, loss=loss.item(), samples_per_s=round(rate))
                if tc.checkpoint_every and st.global_step % tc.checkpoint_every == 0 and step < per_epoch - 1:
                    st.loss_sum, st.correct, st.count = totals()
                    save()
                if sigterm is not None and sigterm.is_set():
                    st.loss_sum, st.correct, st.count = totals()
                    save()
                    writer.wait()
                    raise Preempted(f"stopped by SIGTERM at epoch {epoch + 1}, step {st.global_step}; the checkpoint is written: "
                                    "run the same command to resume")
            st.loss_sum, st.correct, st.count = totals()
            score = (-(st.loss_sum / st.count),) * 2  # without a val split, the training loss decides
            if val is not None and len(val) and dist.main:
                m = validate(eval_model, val, objective, device, precision, tc.monitor, st.eval_batch_size)
                run.log_metrics({"step": st.global_step, "epoch": epoch, "split": "val", **m})
                score = _score(m, m["loss"], tc.monitor)
                shown = "accuracy" if tc.monitor == "loss" and "accuracy" in m else tc.monitor
                progress.log(f"epoch {epoch + 1}/{tc.epochs}  train loss {st.loss_sum / st.count:.4f}  "
                             f"val loss {m['loss']:.4f}" + (f"  val {shown} {m[shown]:.4f}" if shown in m else ""))
            halt = bool(on_epoch is not None and dist.main and val is not None and len(val) and on_epoch(epoch, m))
            score, halt = dist.broadcast((score, halt))  # rank 0 decides best and stopping for everyone
            if score > st.best_score:
                st.best_score, st.best_epoch, st.stale = score, epoch, 0
                if dist.main:
                    best_weights, pending_best = snapshot(model), True
            else:
                st.stale += 1
            stop = bool(tc.early_stopping and st.stale >= tc.early_stopping) or halt
            st.seen += st.count
            st.epoch, st.step_in_epoch, st.loss_sum, st.correct, st.count = epoch + 1, 0, 0.0, 0, 0
            st.finished = stop or st.epoch >= tc.epochs
            if st.finished or tc.checkpoint_every or time.perf_counter() - last_save >= tc.checkpoint_interval:
                save()
            if halt:
                progress.log(f"stopped after epoch {epoch + 1} by the search (pruned)")
            elif stop:
                progress.log(f"early stopping: no better val {tc.monitor} for {st.stale} epochs (best at epoch {st.best_epoch + 1})")
    finally:
        handlers.close()
        progress.close()
        torch.use_deterministic_algorithms(was_deterministic)
    train_seconds = time.perf_counter() - t_start
    if best_weights is not None:
        model.load_state_dict(best_weights)
    model = model.cpu().eval()
    rate = (st.seen + st.count - seen_at_start) / max(1e-9, train_seconds)
    batch = {"batch_size": batch_size, "micro_batch_size": micro, "accumulation": accumulation, "eval_batch_size": st.eval_batch_size}
    return FitResult(model, st.best_epoch, st.best_score, st.epoch, precision, device, train_seconds, rate, batch)
