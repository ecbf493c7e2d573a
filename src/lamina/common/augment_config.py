"""The augmentation settings (``data.augment``): what changes a training batch, per modality."""

from __future__ import annotations

from pydantic import Field

from lamina.common.config_stage import Stage


class AugmentConfig(Stage):
    """Batch-level augmentation, applied to training batches only."""

    translate: float = Field(
        0.05, ge=0, le=0.5, description="max random shift, fraction of the image side (>=1 px when >0)"
    )
    flip: bool = Field(
        False,
        description="random horizontal flips; off by default (digits and text are not mirror-symmetric); efficientnet-lite0 fine-tuning: on; on a frozen efficientnet-lite0 its cached maps are flipped",
    )
    crop_area: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="random resized crops of at least this share of the area, 0 = off; efficientnet-lite0 fine-tuning: 0.25",
    )
    time_shift: float = Field(
        0.1, ge=0, le=1, description="audio: max random shift, seconds (the clip moves, silence fills in)"
    )
    speed: float = Field(
        0.2, ge=0, lt=0.5, description="audio: max relative speed change (0.2 = 0.8x to 1.2x; pitch follows)"
    )
    gain_db: float = Field(6.0, ge=0, le=30, description="audio: max random gain, dB up or down")
    noise: float = Field(0.8, ge=0, le=1, description="audio: share of clips mixed with background noise")
    snr_db: tuple[float, float] = Field(
        (0.0, 20.0), description="audio: signal-to-noise ratio range of that mixing, dB"
    )
    warp: float = Field(
        0.1,
        ge=0,
        lt=0.5,
        description="audio: max vocal tract length perturbation (0.1 = mel filters on a 0.9x to 1.1x frequency axis)",
    )
    time_masks: int = Field(
        2, ge=0, le=10, description="audio: SpecAugment masks over time, each up to 10% of the frames"
    )
    freq_masks: int = Field(
        2, ge=0, le=10, description="audio: SpecAugment masks over mel bands, each up to 15% of the bands"
    )
