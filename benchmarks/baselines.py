"""The baselines lamina is measured against: a hand-written PyTorch loop and PyTorch Lightning.

Both train lamina's resolved model on lamina's prepared tensors with the same augmentation,
AdamW parameter groups, one-cycle schedule, label smoothing, gradient clipping and batch
size, and both evaluate the validation split after every epoch, so a ratio of samples/s
is what the engine around the model costs (or saves). Neither writes checkpoints, a
metrics file or a progress bar.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from lamina.data.augment import augment_batch
from lamina.models.registry import build_model, resolve
from lamina.training.optim import lr_at


def _model(cfg, data, channels_last: bool = True):
    torch.manual_seed(cfg.train.seed)
    train = data.splits["train"]
    model = build_model(resolve(cfg.model), tuple(train.x.shape[1:]), len(data.labels), data.mean, data.std)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def _adamw(model, tc) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": tc.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=tc.lr
    )


def _images(x: torch.Tensor, channels_last: bool = True) -> torch.Tensor:
    """A float batch in the loop's memory format.

    ``channels_last=False`` gives the strides a DataLoader's ``torch.stack`` gives. For one
    channel (Fashion-MNIST), lamina's tensors are both NCHW- and channels-last-contiguous,
    so ``.contiguous()`` would keep their channels-last strides and the convolutions would
    silently run channels-last: ``clone`` allocates the default strides instead.
    """
    if channels_last:
        return x.float().contiguous(memory_format=torch.channels_last)
    return x.float().clone(memory_format=torch.contiguous_format)


@torch.no_grad()
def accuracy(model, split, bf16: bool, channels_last: bool = True) -> float:
    model.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        correct = sum(
            (model(_images(split.x[s : s + 512], channels_last)).argmax(1) == split.y[s : s + 512]).sum().item()
            for s in range(0, len(split), 512)
        )
    return correct / max(1, len(split))


def handwritten(cfg, data, precision: str, channels_last: bool = True) -> tuple[float, float | None]:
    """A plain loop a practitioner would write. Returns (samples/s over the training phase, test accuracy).

    ``channels_last=False`` leaves tensors in PyTorch's default (NCHW) memory format, as a
    loop written without performance work does.
    """
    tc = cfg.train
    train, val, test = data.splits["train"], data.splits["val"], data.splits.get("test")
    model = _model(cfg, data, channels_last)
    opt = _adamw(model, tc)
    gen = torch.Generator().manual_seed(tc.seed + 1)
    steps = len(train) // tc.batch_size
    total, seen, step = steps * tc.epochs, 0, 0
    bf16 = precision == "bf16"
    t0 = time.perf_counter()
    for epoch in range(tc.epochs):
        model.train()
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(epoch))
        for i in range(steps):
            idx = order[i * tc.batch_size : (i + 1) * tc.batch_size]
            x = _images(augment_batch(train.x[idx], cfg.data.augment, gen), channels_last)
            y = train.y[idx]
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, tc)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=tc.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            opt.step()
            step += 1
            seen += len(y)
        accuracy(model, val, bf16, channels_last)
    rate = seen / (time.perf_counter() - t0)
    return rate, (accuracy(model, test, False, channels_last) if test is not None and len(test) else None)


def lightning(cfg, data, precision: str) -> tuple[float, float | None]:
    """The same training as a LightningModule run by ``lightning.pytorch.Trainer`` on the CPU.

    Returns (samples/s over ``trainer.fit``, test accuracy).
    """
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    tc = cfg.train
    train, val, test = data.splits["train"], data.splits["val"], data.splits.get("test")
    steps = len(train) // tc.batch_size
    total = steps * tc.epochs

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = _model(cfg, data)
            self.gen = torch.Generator().manual_seed(tc.seed + 1)

        def training_step(self, batch, _):
            x, y = batch
            logits = self.net(_images(augment_batch(x, cfg.data.augment, self.gen)))
            return F.cross_entropy(logits.float(), y, label_smoothing=tc.label_smoothing)

        def validation_step(self, batch, _):
            x, y = batch
            self.log("val_accuracy", (self.net(_images(x)).argmax(1) == y).float().mean(), prog_bar=False)

        def configure_optimizers(self):
            opt = _adamw(self.net, tc)
            for g in opt.param_groups:
                g["lr"] = g["initial_lr"] = tc.lr
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_at(s, total, tc) / tc.lr)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    module = Module()
    loader = DataLoader(
        TensorDataset(_materialized(train.x), train.y),
        batch_size=tc.batch_size,
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(tc.seed),
    )
    val_loader = DataLoader(TensorDataset(_materialized(val.x), val.y), batch_size=512)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=tc.epochs,
        precision="bf16-mixed" if precision == "bf16" else "32-true",
        gradient_clip_val=tc.grad_clip,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    t0 = time.perf_counter()
    trainer.fit(module, loader, val_loader)
    rate = steps * tc.batch_size * tc.epochs / (time.perf_counter() - t0)
    return rate, (accuracy(module.net, test, False) if test is not None and len(test) else None)


def _materialized(x) -> torch.Tensor:
    """A split's inputs as one tensor (lamina keeps image splits as rows of its cache file, read per batch)."""
    return x if isinstance(x, torch.Tensor) else x[torch.arange(len(x))]
