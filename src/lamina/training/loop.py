"""The training loop: one explicit loop over seeded batches, AdamW, a step-wise schedule,
bf16 autocast where the hardware has it, per-epoch validation, checkpoints, early stopping.

What it does not know about: where data came from (it gets tensors), the CLI, the model
package format (the caller writes it), serving.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lamina.common.config import Config
from lamina.common.progress import Progress
from lamina.common.runtime import bf16_supported, resolve_device, set_threads
from lamina.data.augment import augment_batch
from lamina.data.batches import eval_batches, steps_per_epoch, train_batches
from lamina.data.dataset import PreparedData, SplitData
from lamina.models.registry import Classifier, build_model, resolve
from lamina.training.checkpoint import CheckpointWriter, optimizer_tensors, snapshot
from lamina.training.metrics import classification_metrics
from lamina.training.optim import lr_at, make_optimizer
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


def autocast(device: str, precision: str):
    """bf16 autocast context for 'bf16', a no-op for 'fp32'."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)


def resolve_precision(requested: str, device: str) -> str:
    if requested == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return requested


def to_input(x: torch.Tensor, device: str) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 channels-last on ``device`` (the model normalises)."""
    return x.to(device, non_blocking=True).float().contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def predict_split(model: Classifier, split: SplitData, device: str, precision: str, batch_size: int = 512) -> tuple[torch.Tensor, float]:
    """Logits (N, K) as float32 on CPU and the mean cross-entropy (no smoothing)."""
    model.eval()
    out, loss_sum = [], 0.0
    for sl in eval_batches(len(split), batch_size):
        with autocast(device, precision):
            logits = model(to_input(split.x[sl], device)).float()
        loss_sum += F.cross_entropy(logits, split.y[sl].to(device), reduction="sum").item()
        out.append(logits.cpu())
    return torch.cat(out), loss_sum / max(1, len(split))


def validate(model: Classifier, val: SplitData, labels: list[str], device: str, precision: str, monitor: str) -> dict:
    """Val loss and accuracy (and macro-F1 when it is the monitored metric) for one epoch."""
    logits, loss = predict_split(model, val, device, precision)
    pred = logits.argmax(1)
    m = {"loss": loss, "accuracy": (pred == val.y).float().mean().item(), "n": len(val)}
    if monitor == "macro_f1":  # scikit-learn costs ~15 ms a call: only when it decides
        m["macro_f1"] = classification_metrics(val.y.numpy(), pred.numpy(), labels)["macro_f1"]
    return m


def _score(metrics: dict, loss: float, monitor: str) -> tuple[float, float]:
    """Higher is better; ties on the monitored metric (common for accuracy) go to the lower loss."""
    return (-loss, -loss) if monitor == "loss" else (metrics[monitor], -loss)


def _checkpoint_jobs(model, opt, aug_gen: torch.Generator, state: dict, best_weights: dict | None) -> list[tuple]:
    """Snapshots for a 'last' checkpoint (and 'best', when a new best is not on disk yet)."""
    tensors, opt_meta = optimizer_tensors(opt)
    tensors = {k: v.clone() for k, v in tensors.items()}  # the optimizer keeps updating its own
    tensors.update({"rng.torch": torch.get_rng_state(), "rng.augment": aug_gen.get_state()})
    jobs = [("last", snapshot(model), tensors, {**state, "optimizer": opt_meta})]
    if best_weights is not None:
        jobs.append(("best", best_weights, {}, state))
    return jobs


def fit(cfg: Config, data: PreparedData, run: RunDir, writer: CheckpointWriter, progress_quiet: bool = False) -> FitResult:
    """Train ``cfg.model`` on ``data``; writes metrics into ``run`` and checkpoints through ``writer``.

    The last checkpoint write may still be in flight on return (it overlaps the caller's
    final evaluation); the caller calls ``writer.wait()`` before declaring the run complete.
    """
    tc = cfg.train
    device = resolve_device(tc.device)
    precision = resolve_precision(tc.precision, device)
    set_threads(tc.num_threads)
    torch.manual_seed(tc.seed)  # weight init and dropout draw from torch's default generator, saved in checkpoints
    train, val = data.splits["train"], data.splits.get("val")
    input_shape = tuple(train.x.shape[1:])
    model = build_model(resolve(cfg.model), input_shape, len(data.labels), data.mean, data.std)
    model = model.to(device, memory_format=torch.channels_last)
    opt = make_optimizer(model, tc)
    aug_gen = torch.Generator().manual_seed(tc.seed + 1)
    per_epoch = steps_per_epoch(len(train), tc.batch_size)
    total_steps = per_epoch * tc.epochs
    progress = Progress(total_steps, "train", quiet=progress_quiet)
    best_score, best_epoch, stale, global_step, seen = (float("-inf"), float("-inf")), -1, 0, 0, 0
    t_start = last_save = time.perf_counter()
    best_weights, pending_best = None, False  # snapshot of the best epoch; whether it is not on disk yet
    epoch = 0
    try:
        for epoch in range(tc.epochs):
            model.train()
            loss_sum, correct, count = torch.zeros((), device=device), torch.zeros((), dtype=torch.int64, device=device), 0
            t_epoch = time.perf_counter()
            for step, idx in train_batches(len(train), tc.batch_size, tc.seed, epoch):
                x = to_input(augment_batch(train.x[idx], cfg.data.augment, aug_gen), device)
                y = train.y[idx].to(device, non_blocking=True)
                lr = lr_at(global_step, total_steps, tc)
                for group in opt.param_groups:
                    group["lr"] = lr
                with autocast(device, precision):
                    logits = model(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=tc.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if tc.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip, foreach=True)
                opt.step()
                global_step += 1
                loss_sum += loss.detach() * len(y)
                correct += (logits.argmax(1) == y).sum()
                count += len(y)
                if global_step % tc.log_every == 0 or step == per_epoch - 1:
                    rate = count / max(1e-9, time.perf_counter() - t_epoch)
                    record = {"step": global_step, "epoch": epoch, "split": "train", "loss": loss_sum.item() / count,
                              "accuracy": correct.item() / count, "lr": lr, "samples_per_s": rate}
                    run.log_metrics(record)
                progress.update(1, epoch=epoch + 1, loss=loss.item(), samples_per_s=round(count / max(1e-9, time.perf_counter() - t_epoch)))
            seen += count
            val_record = {"step": global_step, "epoch": epoch, "split": "val"}
            score = (-(loss_sum.item() / count),) * 2  # without a val split, the training loss decides
            if val is not None and len(val):
                m = validate(model, val, data.labels, device, precision, tc.monitor)
                run.log_metrics({**val_record, **m})
                score = _score(m, m["loss"], tc.monitor)
                progress.log(f"epoch {epoch + 1}/{tc.epochs}  train loss {loss_sum.item() / count:.4f}  "
                             f"val loss {m['loss']:.4f}  val accuracy {m['accuracy']:.4f}")
            if score > best_score:
                best_score, best_epoch, stale = score, epoch, 0
                best_weights, pending_best = snapshot(model), True
            else:
                stale += 1
            stop = bool(tc.early_stopping and stale >= tc.early_stopping)
            final = stop or epoch == tc.epochs - 1
            if final or time.perf_counter() - last_save >= tc.checkpoint_interval:
                state = {"epoch": epoch, "step_in_epoch": per_epoch, "global_step": global_step, "best_epoch": best_epoch,
                         "best_score": list(best_score), "precision": precision}
                writer.submit(_checkpoint_jobs(model, opt, aug_gen, state, best_weights if pending_best else None))
                pending_best = False
                last_save = time.perf_counter()
            if stop:
                progress.log(f"early stopping: no better val {tc.monitor} for {stale} epochs (best at epoch {best_epoch + 1})")
                break
    finally:
        progress.close()
    train_seconds = time.perf_counter() - t_start
    model.load_state_dict(best_weights)
    model = model.cpu().eval()
    return FitResult(model, best_epoch, best_score, epoch + 1, precision, device, train_seconds, seen / max(1e-9, train_seconds))
