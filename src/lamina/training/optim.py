"""AdamW with decay on weights only, and the learning-rate schedule as a pure function of the step.

A schedule that is a function of the global step has no state to save: a resumed run
computes the same rate for the same step.
"""

from __future__ import annotations

import math

import torch

from lamina.common.config import TrainConfig
from lamina.models.network import lr_scales


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; norms and biases (tensors of rank <= 1) get no weight decay.

    The parts a network declares in ``lr_groups()`` (a pretrained encoder: 0.01) train at that
    fraction of the schedule's rate; their group carries ``lr_scale``.
    A model with sparse-gradient embeddings (minilm's term bag) gets :class:`LazyAdamW`.
    """
    scale_of = lr_scales(model)
    groups: dict[tuple, list] = {}
    for p in model.parameters():
        if p.requires_grad:
            groups.setdefault((p.ndim > 1, scale_of.get(id(p), 1.0)), []).append(p)
    params = [
        {"params": ps, "weight_decay": cfg.weight_decay if decay else 0.0, "lr_scale": scale}
        for (decay, scale), ps in sorted(groups.items(), key=lambda kv: (not kv[0][0], -kv[0][1]))
    ]
    # fused: one kernel for the whole update where torch has it (CPU and CUDA; 4-5% of a bf16
    # resnet-small step on 2 cores, benchmarks/DEFAULTS.md); otherwise foreach, one kernel per
    # tensor list instead of a Python loop per tensor (~30% faster steps on CPU).
    sparse = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding) and m.sparse}
    if sparse:
        return LazyAdamW(
            [{**g, "weight_decay": 0.0} if id(g["params"][0]) in sparse else g for g in _split_sparse(params, sparse)],
            lr=cfg.lr,
            betas=(0.9, 0.999),
            eps=1e-8,
        )
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for g in params for p in g["params"])
    return torch.optim.AdamW(
        params, lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8, **({"fused": True} if fused else {"foreach": True})
    )


def clip_gradients(model: torch.nn.Module, max_norm: float) -> None:
    """Scale all gradients so their global L2 norm is at most ``max_norm`` (sparse ones counted by their values)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not any(g.is_sparse for g in grads):
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm, foreach=True)
        return
    norms = [torch.linalg.vector_norm(g.coalesce().values() if g.is_sparse else g) for g in grads]
    scale = min(1.0, max_norm / (float(torch.linalg.vector_norm(torch.stack(norms))) + 1e-6))
    if scale < 1.0:
        for p in model.parameters():
            if p.grad is not None:
                p.grad = p.grad * scale if p.grad.is_sparse else p.grad.mul_(scale)


def _split_sparse(groups: list[dict], sparse: set[int]) -> list[dict]:
    """Each sparse-gradient tensor in a group of its own (lazy updates get no weight decay)."""
    out = []
    for g in groups:
        dense = [p for p in g["params"] if id(p) not in sparse]
        out += [{**g, "params": dense}] if dense else []
        out += [{**g, "params": [p]} for p in g["params"] if id(p) in sparse]
    return out


class LazyAdamW(torch.optim.Optimizer):
    """AdamW (the same update as torch's) that also takes sparse gradients, as an ``nn.Embedding(sparse=True)``
    gives: only the rows a batch touched move, their moments included (TensorFlow's LazyAdam, torch's SparseAdam).
    A dense Adam would keep pushing every row a past batch touched with its decaying momentum, and touch all
    of a large table each step. The state has AdamW's names and shapes, so checkpoints read the same."""

    def __init__(self, params, lr: float, betas: tuple[float, float], eps: float):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": 0.0})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=torch.tensor(0.0), exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
                state["step"] += 1
                t = float(state["step"])
                c1, c2 = 1 - b1**t, 1 - b2**t
                m, v = state["exp_avg"], state["exp_avg_sq"]
                if p.grad.is_sparse:
                    grad = p.grad.coalesce()
                    rows, values = grad.indices()[0], grad.values()
                    m_rows = m[rows].mul_(b1).add_(values, alpha=1 - b1)
                    v_rows = v[rows].mul_(b2).addcmul_(values, values, value=1 - b2)
                    m[rows], v[rows] = m_rows, v_rows
                    p[rows] -= lr * (m_rows / c1) / ((v_rows / c2).sqrt_() + eps)
                    continue
                p.mul_(1 - lr * group["weight_decay"])
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                p.addcdiv_(m / c1, (v / c2).sqrt_().add_(eps), value=-lr)


def lr_at(step: int, total_steps: int, cfg: TrainConfig) -> float:
    """Learning rate for 0-based ``step`` of ``total_steps``.

    All shapes rise linearly from lr/25 to lr over the first ``warmup`` fraction, then:
    onecycle falls linearly to 0, cosine follows a half cosine to 0, constant stays at lr.
    """
    total = max(1, total_steps)
    warm = int(round(cfg.warmup * total))
    if step < warm:
        return cfg.lr * (0.04 + 0.96 * step / warm)
    if cfg.schedule == "constant":
        return cfg.lr
    t = (step - warm) / max(1, total - warm)  # 0 -> 1 over the decay phase
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))
    return cfg.lr * (1 - t)
