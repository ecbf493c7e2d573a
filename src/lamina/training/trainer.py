"""fit(): one explicit loop over seeded batches, AdamW, a step-wise schedule, per-epoch validation,
checkpoints, early stopping, exact resume.

The Trainer holds one run's moving parts, set up once in a fixed order (the random draws of a
resumed run depend on it); an epoch reads: batches -> modality batch -> shard -> micro-steps
-> step -> log, then validation decides the best epoch and whether to stop.
"""

from __future__ import annotations

import contextlib
import statistics
import time

import torch

from lamina.common.config import Config
from lamina.common.progress import Progress
from lamina.common.runtime import set_threads
from lamina.data.augment import mirror_half
from lamina.data.batches import steps_per_epoch, train_batches
from lamina.data.dataset import PreparedData, SplitData
from lamina.models.modality import feed, torch_modality
from lamina.models.registry import build_model, resolve, train_defaults
from lamina.training.checkpoint import CheckpointWriter, restore_optimizer, snapshot
from lamina.training.distributed import Dist
from lamina.training.engine import Engine
from lamina.training.features import cache_key, frozen_features
from lamina.training.validation import validate
from lamina.training.memory import probe_batch_sizes
from lamina.training.objective import Objective, class_weights
from lamina.training.optim import clip_gradients, lr_at, make_optimizer
from lamina.training.preempt import Preempted, sigterm_requests
from lamina.training.run import RunDir
from lamina.training.state import EpochSums, FitResult, Resume, TrainState, checkpoint_jobs, score_of


def fit(
    cfg: Config,
    data: PreparedData,
    run: RunDir,
    writer: CheckpointWriter,
    progress_quiet: bool = False,
    resume: Resume | None = None,
    dist: Dist = Dist(),
    on_epoch=None,
) -> FitResult:
    """Train ``cfg.model`` on ``data``; writes metrics into ``run`` and checkpoints through ``writer``.
    ``cfg`` has its inferred values written in (preparation.fill_inferred: epochs, batch sizes, lr).

    With ``resume``, continues from that checkpoint exactly: same batches, same augmentation
    and dropout draws, same learning rates. The last checkpoint write may still be in flight
    on return (it overlaps the caller's final evaluation); the caller calls ``writer.wait()``.

    Under torchrun (``dist.active``) the model is wrapped in DistributedDataParallel, each rank
    trains on its slice of every global batch, and only rank 0 validates, logs and writes
    checkpoints; its validation score is broadcast so every rank stops at the same epoch.

    ``on_epoch(epoch, val_metrics)`` is called on rank 0 after each validation; returning
    True ends training there (a hyperparameter search pruning the trial).
    """
    was_deterministic = torch.are_deterministic_algorithms_enabled()  # a process-wide switch: restored on return
    try:
        trainer = Trainer(cfg, data, run, writer, Engine.create(cfg.train, dist, progress_quiet), resume, on_epoch)
        # SIGTERM: checkpoint and stop after the current step (one process; torchrun's agent restarts its workers itself)
        with (
            contextlib.closing(trainer.progress),
            sigterm_requests() if not dist.active else contextlib.nullcontext() as sigterm,
        ):
            while not trainer.st.finished and trainer.st.epoch < trainer.tc.epochs:
                trainer.end_epoch(trainer.train_epoch(sigterm))
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
    return trainer.result()


class Trainer:
    """One run's model, optimizer, data views and state, set up in the order the random draws expect."""

    def __init__(
        self,
        cfg: Config,
        data: PreparedData,
        run: RunDir,
        writer: CheckpointWriter,
        engine: Engine,
        resume: Resume | None,
        on_epoch,
    ):
        self.cfg, self.tc, self.data, self.run, self.writer = cfg, cfg.train, data, run, writer
        self.engine, self.on_epoch = engine, on_epoch
        set_threads(self.tc.num_threads)
        if self.tc.deterministic:
            torch.use_deterministic_algorithms(True)
        # weight init and dropout draw from torch's default generator, saved in checkpoints
        torch.manual_seed(self.tc.seed)
        self.train, self.val = data.splits["train"], data.splits.get("val")
        model_cfg = resolve(cfg.model, data.modality)
        model = build_model(
            model_cfg, tuple(self.train.x.shape[1:]), data.task.outputs, data.mean, data.std, data.modality, data.prep
        )
        self.objective = Objective(
            data.task, self.tc.label_smoothing, class_weights(data.task, self.train.y, self.tc.class_weights)
        )
        self.twin = torch_modality(data.prep)
        self.model = engine.setup(model, self.twin.memory_format)
        self.st = TrainState.from_json(resume.state["train"]) if resume is not None else TrainState()
        self.best_weights, self.pending_best = None, False  # pending: best_weights not yet on disk
        self.batch_size = (
            train_defaults(model_cfg.name)["batch_size"] if self.tc.batch_size == "auto" else self.tc.batch_size
        )
        self._choose_micro_batches()
        self.eval_model = self.model  # what validation runs; a training step runs step_model, after augment
        self.step_model, self.augment = self.twin.training_view(self.model, cfg, data)
        self.frozen = self.model.frozen_encoder
        if self.frozen:
            self._encode_once()
        self.feed = feed(self.train)  # after _encode_once: a frozen encoder's features feed the head
        self.lengths = self.feed.lengths(self.train.x)
        self.net = engine.wrap(self.step_model)
        self.opt = make_optimizer(self.model, self.tc)
        self.aug_gen = torch.Generator().manual_seed(self.tc.seed + 1)
        if resume is not None:
            self._restore(resume)
        self.per_epoch = steps_per_epoch(len(self.train), self.batch_size)
        self.total_steps = self.per_epoch * self.tc.epochs
        self.progress = Progress(self.total_steps, "train", quiet=engine.quiet or not engine.main)
        if self.tc.batch_size == "auto" or self.accumulation > 1:
            self.progress.log(
                f"batch {self.batch_size}: {self.accumulation} micro-batch(es) of up to {self.micro} per step and "
                f"process; evaluation batches of {self.st.eval_batch_size}"
            )
        self.progress.update(self.st.global_step)
        self.t_start = self.last_save = time.perf_counter()
        self.seen_at_start = self.st.seen + self.st.count

    # --- set-up ------------------------------------------------------------------------------
    def _choose_micro_batches(self) -> None:
        """Micro-batch and evaluation batch sizes: a fresh run probes memory for batch_size auto; a resumed one keeps its own."""
        st, tc, engine = self.st, self.tc, self.engine
        if not st.micro_batch_size:
            st.micro_batch_size, st.eval_batch_size = (
                min(tc.micro_batch_size or self.batch_size, self.batch_size),
                tc.eval_batch_size,
            )
            if tc.batch_size == "auto":  # probed before DDP wraps the model: no collective runs during the probe
                # eval_batch_size is the ceiling: larger evaluation batches are not faster (benchmarks/DEFAULTS.md)
                probe = probe_batch_sizes(
                    self.model,
                    torch.ones_like(self.train.x[:1]),
                    feed(self.train).model_input,
                    engine.device,
                    engine.autocast,
                    limit_train=-(-self.batch_size // engine.dist.world),
                    limit_eval=tc.eval_batch_size,
                )
                st.micro_batch_size, st.eval_batch_size = engine.broadcast(
                    (probe["micro_batch_size"], probe["eval_batch_size"])
                )
        self.micro = st.micro_batch_size
        self.accumulation = -(-(self.batch_size // engine.dist.world) // self.micro)

    def _encode_once(self) -> None:
        """A frozen pretrained encoder: encode every text or image once, train only the head on the features."""
        engine, started = self.engine, time.perf_counter()
        key = cache_key(self.model, self.data.prep, self.cfg.data.cache, engine.precision)
        self.train, self.val = (
            frozen_features(self.model, sp, engine.device, engine.precision, self.st.eval_batch_size, key)
            if sp is not None
            else None
            for sp in (self.train, self.val)
        )
        self.step_model = self.eval_model = self.model.head
        self.augment = None  # features are not augmented, but mirrored where the network can (data.augment.flip)
        if self.cfg.data.augment.flip and self.model.mirrors_features:
            self.augment = lambda xb, gen, device: mirror_half(xb, self.model.mirrored, gen)
        n = len(self.train) + (len(self.val) if self.val is not None else 0)
        engine.print(
            f"frozen encoder: {n} {self.data.modality} samples encoded once in {time.perf_counter() - started:.1f} s; "
            "training the head only"
        )

    def _restore(self, resume: Resume) -> None:
        self.model.load_state_dict(resume.weights)
        restore_optimizer(self.opt, resume.tensors, resume.state["optimizer"])
        torch.set_rng_state(resume.tensors["rng.torch"])
        self.aug_gen.set_state(resume.tensors["rng.augment"])
        self.best_weights = resume.best_weights
        self.run.truncate_metrics(self.st.metrics_bytes)  # lines written after the checkpoint will be written again

    # --- an epoch ----------------------------------------------------------------------------
    def train_epoch(self, sigterm) -> EpochSums:
        """One pass over the training split (the rest of it, when resumed mid-epoch)."""
        st, epoch = self.st, self.st.epoch
        self.model.train()
        sums, t_epoch = EpochSums(st, self.engine), time.perf_counter()
        for step, idx in train_batches(
            len(self.train), self.batch_size, self.tc.seed, epoch, start_step=st.step_in_epoch, lengths=self.lengths
        ):
            lr = lr_at(st.global_step, self.total_steps, self.tc)
            loss = self._step(*self._batch(idx), lr, sums)
            st.global_step += 1
            st.step_in_epoch = step + 1
            rate = sums.count * self.engine.dist.world / max(1e-9, time.perf_counter() - t_epoch)
            if st.global_step % self.tc.log_every == 0 or step == self.per_epoch - 1:
                self._log_train(epoch, lr, rate, sums)
            self.progress.update(1, epoch=epoch + 1, loss=loss.item(), samples_per_s=round(rate))
            if (
                self.tc.checkpoint_every
                and st.global_step % self.tc.checkpoint_every == 0
                and step < self.per_epoch - 1
            ):
                st.loss_sum, st.correct, st.count = sums.totals()
                self.save()
            if sigterm is not None and sigterm.is_set():
                self._preempted(epoch, sums)
        return sums

    def _batch(self, idx) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's share of a global batch, augmented as its modality is (frozen: already features)."""
        xb = self.train.x[idx]
        if self.augment is not None:
            xb = self.augment(xb, self.aug_gen, self.engine.device)
        return self.engine.shard(xb), self.engine.shard(self.train.y[idx])

    def _step(self, xb: torch.Tensor, yb: torch.Tensor, lr: float, sums: EpochSums) -> torch.Tensor:
        """One optimizer step over the batch, in micro-batches when it does not fit at once; the last micro-batch's loss."""
        engine, micro = self.engine, self.micro
        for group in self.opt.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        self.opt.zero_grad(set_to_none=True)
        starts = range(0, len(yb), micro)
        for j, start in enumerate(starts):  # one pass unless the batch is split into micro-batches
            x = self.feed.model_input(xb[start : start + micro], engine.device)
            y = yb[start : start + micro].to(engine.device, non_blocking=True)
            with engine.no_backward_sync(self.net, last=j == len(starts) - 1):
                with engine.autocast():
                    logits = self.net(x)
                loss = self.objective.loss(logits.float(), y)
                engine.backward(loss * (len(y) / len(yb)) if len(starts) > 1 else loss)
            sums.loss += loss.detach() * len(y)
            sums.correct += self.objective.hits(logits, y)
            sums.count += len(y)
        if self.tc.grad_clip:
            clip_gradients(self.model, self.tc.grad_clip)
        self.opt.step()
        return loss

    def _log_train(self, epoch: int, lr: float, rate: float, sums: EpochSums) -> None:
        lsum, corr, n = sums.totals()
        hits = {self.objective.hit_name: corr / n} if self.objective.hit_name else {}
        self.run.log_metrics(
            {
                "step": self.st.global_step,
                "epoch": epoch,
                "split": "train",
                "loss": lsum / n,
                **hits,
                "lr": lr,
                "samples_per_s": rate,
            }
        )

    def _preempted(self, epoch: int, sums: EpochSums) -> None:
        """SIGTERM: checkpoint and stop after the current step (torchrun's agent restarts its workers itself)."""
        self.st.loss_sum, self.st.correct, self.st.count = sums.totals()
        self.save()
        self.writer.wait()
        raise Preempted(
            f"stopped by SIGTERM at epoch {epoch + 1}, step {self.st.global_step}; the checkpoint is written: "
            "run the same command to resume"
        )

    # --- a speed probe (lamina.training.budget) -------------------------------------------------
    def seconds_per_epoch(self, budget: float, warmup: int = 3, steps: int = 20, max_seconds: float = 5.0) -> float:
        """The seconds one epoch (training and validation) takes on this machine, from a few timed steps of this
        trainer: a throwaway one, since the steps change its weights. Stops early once the whole run is clearly
        within ``budget`` seconds."""
        self.model.train()
        sums, lr, times = EpochSums(self.st, self.engine), lr_at(0, self.total_steps, self.tc), []
        for _, idx in train_batches(len(self.train), self.batch_size, self.tc.seed, 0, lengths=self.lengths):
            started = time.perf_counter()
            self._step(*self._batch(idx), lr, sums).item()  # .item(): the step has finished on any device
            times.append(time.perf_counter() - started)
            timed = times[warmup:]
            if len(timed) >= steps or sum(times) > max_seconds or timed and min(timed) * self.total_steps < budget / 4:
                break
        step = statistics.median(times[warmup:] or times)
        return self.per_epoch * step + self._validation_seconds()

    def _validation_seconds(self, batches: int = 2) -> float:
        """Validation's share of an epoch, from timing up to ``batches`` evaluation batches."""
        val = self.val
        if val is None or not len(val):
            return 0.0
        n = min(len(val), batches * self.st.eval_batch_size)
        part = SplitData(
            val.x[torch.arange(n)], val.y[:n], val.keys[:n], val.form, val.texts[:n] if val.texts is not None else None
        )
        started = time.perf_counter()
        validate(
            self.eval_model,
            part,
            self.objective,
            self.engine.device,
            self.engine.precision,
            self.tc.monitor,
            self.st.eval_batch_size,
        )
        return (time.perf_counter() - started) * len(val) / n

    # --- the end of an epoch -----------------------------------------------------------------
    def end_epoch(self, sums: EpochSums) -> None:
        """Validate (rank 0), keep the best weights, decide early stopping (the same on every rank), checkpoint."""
        st, tc, epoch = self.st, self.tc, self.st.epoch
        st.loss_sum, st.correct, st.count = sums.totals()
        score, halt = self.engine.broadcast(self._judge(epoch))  # rank 0 decides best and stopping for everyone
        if score > st.best_score:
            st.best_score, st.best_epoch, st.stale = score, epoch, 0
            if self.engine.main:
                self.best_weights, self.pending_best = snapshot(self.model), True
        else:
            st.stale += 1
        stop = bool(tc.early_stopping and st.stale >= tc.early_stopping) or halt
        st.seen += st.count
        st.epoch, st.step_in_epoch, st.loss_sum, st.correct, st.count = epoch + 1, 0, 0.0, 0, 0
        st.finished = stop or st.epoch >= tc.epochs
        if st.finished or tc.checkpoint_every or time.perf_counter() - self.last_save >= tc.checkpoint_interval:
            self.save()
        if halt:
            self.progress.log(f"stopped after epoch {epoch + 1} by the search (pruned)")
        elif stop:
            self.progress.log(
                f"early stopping: no better val {tc.monitor} for {st.stale} epochs (best at epoch {st.best_epoch + 1})"
            )

    def _judge(self, epoch: int) -> tuple[tuple, bool]:
        """(score, halt) on this rank: the val score (without a val split, the training loss decides) and the search's verdict."""
        st, tc, val = self.st, self.tc, self.val
        score = (-(st.loss_sum / st.count),) * 2
        if val is None or not len(val) or not self.engine.main:
            return score, False
        m = validate(
            self.eval_model,
            val,
            self.objective,
            self.engine.device,
            self.engine.precision,
            tc.monitor,
            st.eval_batch_size,
        )
        self.run.log_metrics({"step": st.global_step, "epoch": epoch, "split": "val", **m})
        shown = "accuracy" if tc.monitor == "loss" and "accuracy" in m else tc.monitor
        self.progress.log(
            f"epoch {epoch + 1}/{tc.epochs}  train loss {st.loss_sum / st.count:.4f}  val loss {m['loss']:.4f}"
            + (f"  val {shown} {m[shown]:.4f}" if shown in m else "")
        )
        halt = bool(self.on_epoch is not None and self.on_epoch(epoch, m))
        return score_of(m, m["loss"], tc.monitor), halt

    def save(self) -> None:
        """A 'last' checkpoint (and 'best' first when a new best is not on disk yet), written in the background; rank 0 only."""
        if not self.engine.main:
            return
        self.st.metrics_bytes = self.run.metrics_bytes()
        self.writer.submit(
            checkpoint_jobs(
                self.model, self.opt, self.aug_gen, self.st, self.best_weights if self.pending_best else None
            )
        )
        self.pending_best, self.last_save = False, time.perf_counter()

    def result(self) -> FitResult:
        """The best weights loaded, on the CPU in eval mode, with what the run used and how fast it went."""
        train_seconds = time.perf_counter() - self.t_start
        if self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
        rate = (self.st.seen + self.st.count - self.seen_at_start) / max(1e-9, train_seconds)
        batch = {
            "batch_size": self.batch_size,
            "micro_batch_size": self.micro,
            "accumulation": self.accumulation,
            "eval_batch_size": self.st.eval_batch_size,
        }
        return FitResult(
            self.model.cpu().eval(),
            self.st.best_epoch,
            self.st.best_score,
            self.st.epoch,
            self.engine.precision,
            self.engine.device,
            train_seconds,
            rate,
            batch,
        )
