"""Batch augmentation as tensor ops: one call per batch, no per-sample Python loop."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from lamina.common.config import AugmentConfig
from lamina.data.audio import AudioPreprocess
from lamina.data.mel import mel_filterbank


def translate(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by its own random (dy, dx) in [-max_shift, max_shift], filling with zeros.

    Args:
        x: (B, C, H, W) images.
    Returns:
        (B, C, H, W), same dtype, channels-last.
    """
    if max_shift <= 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (max_shift, max_shift, max_shift, max_shift))  # (B, C, H+2s, W+2s)
    dy = torch.randint(0, 2 * max_shift + 1, (b,), generator=gen)
    dx = torch.randint(0, 2 * max_shift + 1, (b,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, :, None]  # (B, H, 1)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, :]  # (B, 1, W)
    out = padded[torch.arange(b)[:, None, None], :, rows, cols]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)


def random_resized_crop(
    x: torch.Tensor, min_area: float, gen: torch.Generator, ratio: tuple = (3 / 4, 4 / 3)
) -> torch.Tensor:
    """Each image cut to its own random box (``min_area``..1 of its area, aspect ``ratio``) and stretched back to
    its size, bilinear (Szegedy et al., 2015): the fine-tuning augmentation of ImageNet backbones.

    Args:
        x: (B, C, H, W) images, any dtype.
    Returns:
        (B, C, H, W), x's dtype.
    """
    b = x.shape[0]
    area = min_area + (1 - min_area) * torch.rand(b, generator=gen)
    log_r = torch.log(torch.tensor(ratio[0])) + torch.rand(b, generator=gen) * torch.log(
        torch.tensor(ratio[1] / ratio[0])
    )
    aspect = torch.exp(log_r)
    w = torch.sqrt(area * aspect).clamp(max=1.0)  # fractions of the side
    h = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (torch.rand(b, generator=gen) * 2 - 1) * (1 - w)  # centre, in [-1, 1] coordinates, box inside the image
    cy = (torch.rand(b, generator=gen) * 2 - 1) * (1 - h)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w, cx, h, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.round().clamp(0, 255).to(x.dtype) if not x.dtype.is_floating_point else out


def hflip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the batch left-right. x: (B, C, H, W)."""
    return mirror_half(x, lambda t: t.flip(3), gen)


def mirror_half(x: torch.Tensor, mirror, gen: torch.Generator) -> torch.Tensor:
    """A random half of the batch (B, ...) replaced by ``mirror(x)``'s rows (images flipped, or a frozen backbone's
    features of them)."""
    mask = torch.rand(x.shape[0], generator=gen) < 0.5
    return torch.where(mask.view(-1, *([1] * (x.dim() - 1))), mirror(x), x)


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Apply the configured augmentations to a training batch (B, C, H, W)."""
    if cfg.crop_area:
        x = random_resized_crop(x, cfg.crop_area, gen)
    if cfg.translate > 0:
        x = translate(x, max(1, round(cfg.translate * x.shape[-1])), gen)
    if cfg.flip:
        x = hflip(x, gen)
    return x


# --- audio: waveforms (B, T) in int16 units, then log-mel features (B, 1, M, F) ------------------------------------

NOISE_FLOOR = 100.0  # int16 units: the loudness noise is scaled against in a (near-)silent clip (~-50 dBFS)


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen)


def shift_and_stretch(x: torch.Tensor, shift: torch.Tensor, speed: torch.Tensor) -> torch.Tensor:
    """Play each clip ``speed`` times faster (pitch follows, as with tape) about its centre, moved by ``shift`` samples.

    Linear interpolation, silence outside the original. x: (B, T) float; shift, speed: (B,).
    """
    b, t = x.shape
    pos = (t / 2 + (torch.arange(t, dtype=torch.float32)[None, :] - t / 2) * speed[:, None]) - shift[:, None]  # (B, T)
    left = pos.floor()
    frac = pos - left
    left = left.long()
    padded = torch.nn.functional.pad(x, (1, 2))  # index -1 and T, T+1 read silence
    i0 = (left + 1).clamp(0, t + 2)
    i1 = (left + 2).clamp(0, t + 2)
    out = padded.gather(1, i0) * (1 - frac) + padded.gather(1, i1) * frac
    inside = (pos >= -1) & (pos <= t)
    return out * inside


def colored_noise(b: int, t: int, gen: torch.Generator) -> torch.Tensor:
    """Unit-RMS noise (B, T) of random colour: a per-clip mix of white and brown (integrated) noise."""
    white = torch.randn((b, t), generator=gen)
    brown = torch.cumsum(torch.randn((b, t), generator=gen), dim=1)
    brown = brown - brown.mean(dim=1, keepdim=True)
    mix = torch.rand((b, 1), generator=gen)
    noise = (1 - mix) * white / white.std(dim=1, keepdim=True) + mix * brown / brown.std(dim=1, keepdim=True).clamp_min(
        1e-6
    )
    return noise / noise.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-6)


def add_noise(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator, bank: torch.Tensor | None) -> torch.Tensor:
    """Mix background noise into a random ``cfg.noise`` share of the clips at a random SNR in ``cfg.snr_db``.

    Noise comes from random windows of ``bank`` (the data's _background_noise_ recordings,
    int16 (N,)) or, without one, is generated (white to brown).
    """
    b, t = x.shape
    chosen = torch.rand(b, generator=gen) < cfg.noise
    snr = _uniform(b, cfg.snr_db[0], cfg.snr_db[1], gen)
    if bank is not None and len(bank) >= t:
        starts = torch.randint(0, len(bank) - t + 1, (b,), generator=gen)
        noise = bank[starts[:, None] + torch.arange(t)[None, :]].float()  # (B, T)
        noise = noise / noise.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1.0)
    else:
        noise = colored_noise(b, t, gen)
    rms = x.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(NOISE_FLOOR)  # (B, 1)
    scale = rms * torch.pow(10.0, -snr / 20)[:, None] * chosen[:, None]
    return x + noise * scale


def augment_audio(
    x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator, sample_rate: int, bank: torch.Tensor | None = None
) -> torch.Tensor:
    """Time shift, speed change, gain and background noise for a training batch of int16 clips (B, T).

    Returns float32 (B, T) in int16 units, clipped to the int16 range. Every draw comes from ``gen``.
    """
    b, t = x.shape
    out = x.float()
    max_shift = cfg.time_shift * sample_rate
    shift = _uniform(b, -max_shift, max_shift, gen).round()
    speed = _uniform(b, 1 - cfg.speed, 1 + cfg.speed, gen)
    if max_shift > 0 or cfg.speed > 0:
        out = shift_and_stretch(out, shift, speed)
    gain = torch.pow(10.0, _uniform(b, -cfg.gain_db, cfg.gain_db, gen) / 20)
    out = out * gain[:, None]
    if cfg.noise > 0:
        out = add_noise(out, cfg, gen, bank)
    return out.clamp(-32768.0, 32767.0)


WARP_STEPS = 21  # warp factors between 1 - warp and 1 + warp, one filterbank each


def warp_banks(prep: AudioPreprocess, max_warp: float) -> torch.Tensor:
    """(WARP_STEPS, n_mels, bins) mel filterbanks on frequency axes stretched by 1 - max_warp .. 1 + max_warp."""
    factors = np.linspace(1 - max_warp, 1 + max_warp, WARP_STEPS) if max_warp > 0 else [1.0]
    return torch.from_numpy(np.stack([mel_filterbank(prep, float(f)) for f in factors]))


def warped_mel(power: torch.Tensor, banks: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each clip's power spectrogram (B, bins, F) through a randomly chosen warped filterbank -> (B, M, F)."""
    pick = torch.randint(0, len(banks), (power.shape[0],), generator=gen)
    return torch.bmm(banks[pick].to(power.device), power)


def spec_augment(feats: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """SpecAugment masks (Park et al., 2019): ``time_masks`` spans of up to 10% of the frames and
    ``freq_masks`` bands of up to 15% of the mel bands per clip, set to 0 (the mean after normalisation).

    feats: (B, 1, M, F).
    """
    b, _, m, f = feats.shape
    keep = torch.ones((b, m, f), dtype=torch.bool)
    for count, size, axis in ((cfg.time_masks, f, 2), (cfg.freq_masks, m, 1)):
        limit = max(1, int(size * (0.10 if axis == 2 else 0.15)))
        for _ in range(count):
            width = torch.randint(0, limit + 1, (b,), generator=gen)
            start = (torch.rand(b, generator=gen) * (size - width + 1)).long()
            span = torch.arange(size)[None, :]
            hit = (span >= start[:, None]) & (span < (start + width)[:, None])  # (B, size)
            keep &= ~(hit[:, None, :] if axis == 2 else hit[:, :, None])
    return feats * keep[:, None].to(feats.dtype)
