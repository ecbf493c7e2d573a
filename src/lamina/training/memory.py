"""`train.batch_size: auto`: the largest micro-batch (and evaluation batch) that fits memory.

The optimizer batch stays the model's default (128 samples, resnet-small 256: what every
other figure in lamina is measured with); when a micro-batch that large would not fit,
gradients accumulate over several smaller ones. The evaluation batch is at most
train.eval_batch_size (larger ones are not faster), smaller when memory is short. Probing
runs real forward/backward passes of the model at two batch sizes and measures their peak memory: on CUDA the allocator's peak, on CPU the bytes of the tensors autograd
keeps for the backward pass (the CPU allocator's reuse hides them from the resident size).
The per-sample cost is extrapolated linearly and a batch is accepted when it needs at most
SAFETY of the memory available (free GPU memory, or MemAvailable).
"""

from __future__ import annotations

import gc
from pathlib import Path

import torch
import torch.nn.functional as F


SAFETY = 0.5  # use at most this fraction of the free memory
PROBES = (8, 32)  # batch sizes actually run to measure the cost per sample


def _cpu_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise OSError("no MemAvailable in /proc/meminfo")


def _cpu_bytes(model, x: torch.Tensor, train: bool, autocast) -> int:
    """Bytes a pass at this batch holds at its peak, counted from the tensors themselves.

    Training: every tensor autograd saves for the backward pass, twice (the gradients flowing
    back are about as large). Evaluation: the two largest activations (a layer's input and
    output). The CPU allocator keeps freed memory, so the process's resident size would not
    show these reliably; the tensors do.
    """
    saved = 0
    largest: list[int] = [0, 0]

    def pack(t):
        nonlocal saved
        saved += t.numel() * t.element_size()
        return t

    def record(module, inputs, output):
        if isinstance(output, torch.Tensor):
            largest.append(output.numel() * output.element_size())
            largest.sort(reverse=True)
            del largest[2:]

    hooks = [m.register_forward_hook(record) for m in model.modules()]
    try:
        with torch.set_grad_enabled(train), autocast(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = model(x)
        if train:
            _backward(out)
            model.zero_grad(set_to_none=True)
    finally:
        for h in hooks:
            h.remove()
    return 2 * saved if train else sum(largest)


def _backward(out: torch.Tensor) -> None:
    """A backward pass through the outputs of a forward (one answer per sample, or one per member)."""
    flat = out.float().flatten(0, -2)
    F.cross_entropy(flat, torch.zeros(len(flat), dtype=torch.long, device=flat.device)).backward()


def _measure(model, sample: torch.Tensor, batch: int, device: str, train: bool, autocast, to_input) -> int:
    """Peak bytes above the baseline for one forward (+ backward when ``train``) at ``batch``."""
    x = to_input(sample.expand(batch, *sample.shape[1:]).clone(), device)
    model.train(train)
    if not device.startswith("cuda"):
        return _cpu_bytes(model, x, train, autocast)
    gc.collect()
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    with torch.set_grad_enabled(train), autocast():
        out = model(x)
    if train:
        _backward(out)
        model.zero_grad(set_to_none=True)
    torch.cuda.synchronize(device)
    return max(0, torch.cuda.max_memory_allocated(device) - base)


def probe_batch_sizes(
    model, sample: torch.Tensor, to_input, device: str, autocast, limit_train: int, limit_eval: int = 4096
) -> dict:
    """{"micro_batch_size", "eval_batch_size", "bytes_per_sample_train", "bytes_per_sample_eval", "available_bytes"}.

    Args:
        model: the network (its weights and BatchNorm statistics are restored afterwards).
        sample: one stored sample (1, C, H, W) uint8 or (1, L) token ids, as training holds them
            (text: no padding, so the probe pays for full-length texts).
        to_input: (stored batch, device) -> the network's input (the modality's feed: lamina.models.modality.feed).
        autocast: a no-argument context factory (the run's precision).
    """
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()  # dropout in the probes must not shift the run's random stream
    try:
        available = torch.cuda.mem_get_info(device)[0] if device.startswith("cuda") else _cpu_available()
        result = {"available_bytes": int(available)}
        for kind, train, limit in (("train", True, limit_train), ("eval", False, limit_eval)):
            small, large = (_measure(model, sample, b, device, train, autocast, to_input) for b in PROBES)
            per_sample = max(1, (large - small) // (PROBES[1] - PROBES[0]))
            fixed = max(0, small - per_sample * PROBES[0])
            fits = int((SAFETY * available - fixed) // per_sample)
            size = max(1, min(limit, fits))
            size = 1 << (size.bit_length() - 1) if size < limit else limit  # a power of two below the limit
            result[f"bytes_per_sample_{kind}"] = int(per_sample)
            result["micro_batch_size" if train else "eval_batch_size"] = size
        return result
    finally:
        model.load_state_dict(saved)
        model.zero_grad(set_to_none=True)
        torch.set_rng_state(rng)
