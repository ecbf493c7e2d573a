"""The torch side of a modality: what a network, a training step and a loaded package need that the torch-free
modality objects of ``lamina.data`` (ImagePreprocess, AudioPreprocess, TextPreprocess) cannot give.

One object per modality, found by the data object's ``name`` (``torch_modality(prep)``). Each answers:

- ``frontend``: the network's first, parameter-free layer (pixel normalisation, log-mels, nothing for token ids),
  from the registered spec (its ``inputs``), the preprocessing and the data's statistics; ``normalization``: the
  statistics it uses, as lamina.json records them;
- ``memory_format``: how the network and its batches lie in memory;
- ``cached_features``: whether a frozen encoder's features are worth caching on disk between runs (the
  preprocessing's part of their key), or None;
- ``model_input``: a batch of the stored form (or of what augmentation made of it) -> the network's input, on the
  device; ``lengths``: per-sample lengths that batching groups by (texts), or None;
- ``training_view``: what a training step runs and how a batch is augmented on the way to it;
- ``graph_input``: the exported graph's input (as a server sends it) -> what the network takes;
- ``stored``: the data object's ``inputs`` (numpy) -> the stored batch form a Predictor scores; ``served``: back
  (the stored form of a split -> the exported graph's input: the package's parity samples);
- ``preprocessing``: the preprocessing lamina.json records.

A fourth modality adds one class here and one data object in ``lamina.data``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from lamina.data.augment import augment_audio, augment_batch, spec_augment, warp_banks, warped_mel

# (stored batch, generator, device) -> step input
Augment = Callable[[torch.Tensor, torch.Generator, str], torch.Tensor]


class Normalize(nn.Module):
    """(x - mean) / std per channel, in pixel units, as the network's first layer."""

    def __init__(self, mean: list[float], std: list[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("inv_std", 1.0 / torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> same
        return (x - self.mean) * self.inv_std


class ImageTorch:
    """Pixels: uint8 (N, C, H, W) stored, float channels-last into the network, normalised by its first layer."""

    name = "image"
    memory_format = torch.channels_last  # the faster layout for convolutions on CPU and GPU

    def cached_features(self, prep) -> str:
        """A frozen photo backbone's features are cached on disk: this names the preprocessing in their key."""
        from lamina.data.cache import IMAGE_DECODE_VERSION

        return f"{prep.size}x{prep.channels}-{prep.fit}-{prep.resample}-d{IMAGE_DECODE_VERSION}"

    def frontend(
        self, spec, cfg, prep, input_shape: tuple, stats: tuple[list, list], load_pretrained: bool
    ) -> nn.Module:
        return Normalize(*self._scaling(spec, input_shape[0], stats))

    def normalization(self, spec, prep, stats: tuple[list, list]) -> tuple[list[float], list[float]]:
        """(mean, std) per channel the network's first layer uses: the input scaling pretrained weights expect
        (spec.inputs), else the data's statistics ``stats``."""
        return self._scaling(spec, prep.channels, stats)

    def _scaling(self, spec, channels: int, stats: tuple[list, list]) -> tuple[list[float], list[float]]:
        if "mean" in spec.inputs:
            return [spec.inputs["mean"]] * channels, [spec.inputs["std"]] * channels
        return stats

    def net_args(self, prep, load_pretrained: bool) -> tuple:
        return ()

    def training_view(self, model: nn.Module, cfg, data) -> tuple[nn.Module, Augment]:
        return model, lambda xb, gen, device: augment_batch(xb, cfg.data.augment, gen)

    def model_input(self, x: torch.Tensor, device: str) -> torch.Tensor:
        """Stored uint8 or augmented float pixels (B, C, H, W) -> float32 channels-last (the network normalises)."""
        return x.to(device, non_blocking=True).float().contiguous(memory_format=torch.channels_last)

    def lengths(self, x) -> None:
        return None

    def graph_input(self, inputs: torch.Tensor) -> torch.Tensor:  # uint8 (N, H, W, C) -> float (N, C, H, W)
        return inputs.permute(0, 3, 1, 2).to(torch.float32)

    def stored(self, inputs: np.ndarray) -> torch.Tensor:  # uint8 (N, H, W, C) -> (N, C, H, W)
        return torch.from_numpy(inputs).permute(0, 3, 1, 2)

    def served(self, stored: torch.Tensor) -> np.ndarray:  # uint8 (N, C, H, W) -> (N, H, W, C), as a server sends it
        return stored.permute(0, 2, 3, 1).contiguous().numpy()

    def preprocessing(self, prep, mean: list[float], std: list[float]) -> dict:
        return {**prep.to_dict(), "mean": list(mean), "std": list(std)}


class AudioTorch:
    """Clips: int16 (N, samples) stored and served; the network's first layer computes log-mels (or a pretrained
    model's own front end)."""

    name = "audio"
    memory_format = torch.contiguous_format

    def cached_features(self, prep) -> str:
        """A frozen speech encoder's features are cached on disk like a photo backbone's: a rerun or a resumed run
        reads the very features the first run computed (recomputed on several threads, they may differ in the last
        bits, and a resumed run would not follow the uninterrupted one exactly)."""
        from lamina.data.cache import CACHE_VERSION

        return f"{prep.sample_rate}hz-{prep.samples}-c{CACHE_VERSION}"

    def frontend(
        self, spec, cfg, prep, input_shape: tuple, stats: tuple[list, list], load_pretrained: bool
    ) -> nn.Module:
        from lamina.models.kws import LogMel

        own = spec.inputs.get("frontend")  # a pretrained model's own front end
        return own(prep, cfg.pretrained if load_pretrained else None) if own else LogMel(prep)

    def normalization(self, spec, prep, stats: tuple[list, list]) -> tuple[list, list]:
        return stats

    def net_args(self, prep, load_pretrained: bool) -> tuple:
        return ()

    def training_view(self, model: nn.Module, cfg, data) -> tuple[nn.Module, Augment]:
        """Steps take augmented features of the whole global batch (the front end has no parameters), so the step
        runs the network after the front end."""
        banks = warp_banks(data.prep, cfg.data.augment.warp)
        return model.net, lambda xb, gen, device: audio_features(model, xb, cfg.data.augment, data, gen, device, banks)

    def model_input(self, x: torch.Tensor, device: str) -> torch.Tensor:
        """Stored int16 clips (B, samples) -> float32 in int16 units (the front end scales them); the augmented
        features a training step gets (B, mels, frames) pass as float32."""
        return x.to(device, non_blocking=True).float()

    def lengths(self, x) -> None:
        return None

    def graph_input(self, inputs: torch.Tensor) -> torch.Tensor:  # int16 (N, samples) -> float32 in int16 units
        return inputs.to(torch.float32)

    def stored(self, inputs: np.ndarray) -> torch.Tensor:  # int16 (N, samples)
        return torch.from_numpy(inputs)

    def served(self, stored: torch.Tensor) -> np.ndarray:
        return stored.numpy()

    def preprocessing(self, prep, mean: list[float], std: list[float]) -> dict:
        return prep.to_dict()


class TextTorch:
    """Token ids: int32 (N, max_tokens) stored, int64 into the network, which embeds them itself."""

    name = "text"
    memory_format = torch.contiguous_format

    def cached_features(self, prep) -> str:
        """A frozen sentence encoder's features are cached on disk, keyed by each text's hash and these (the text is
        cut at max_tokens of a vocabulary of vocab_size): a rerun, a review's folds or a resumed run encode nothing
        again."""
        from lamina.data.cache import CACHE_VERSION

        return f"t{prep.max_tokens}-v{prep.vocab_size}-c{CACHE_VERSION}"

    def frontend(
        self, spec, cfg, prep, input_shape: tuple, stats: tuple[list, list], load_pretrained: bool
    ) -> nn.Module:
        return nn.Identity()

    def normalization(self, spec, prep, stats: tuple[list, list]) -> tuple[list, list]:
        return stats

    def net_args(self, prep, load_pretrained: bool) -> tuple:
        return (prep.vocab_size,)  # ids are in [0, vocab_size)

    def training_view(self, model: nn.Module, cfg, data) -> tuple[nn.Module, None]:
        return model, None

    def model_input(self, x: torch.Tensor, device: str) -> torch.Tensor:
        """int32 (B, L) -> int64 (B, L') with L' the end of the batch's longest text (its last real id; a token an
        explanation hid inside a text is padding too): the padding after it changes no output (every text model
        masks it), so short texts cost short compute."""
        ends = (x != 0) * torch.arange(1, x.shape[1] + 1)  # each real id's position + 1
        longest = int(ends.max()) if x.numel() else 1
        return x[:, : max(1, longest)].to(device, torch.int64, non_blocking=True)

    def lengths(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) real tokens per row of right-padded ids (N, L): batches group texts of similar length."""
        return (x != 0).sum(1)

    def graph_input(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def stored(self, inputs: np.ndarray) -> torch.Tensor:  # token ids (N, max_tokens) -> int32, as served ids too
        return torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.int32))

    def served(self, stored: torch.Tensor) -> np.ndarray:  # int32 -> int64 token ids, as the graph takes them
        return stored.numpy().astype(np.int64)

    def preprocessing(self, prep, mean: list[float], std: list[float]) -> dict:
        return prep.to_dict()


class TableTorch:
    """Rows: float32 (N, columns) stored, served and fed as they are; the network's first layer scales the numbers
    and flags the missing ones (lamina.models.tabular.ColumnScaling)."""

    name = "table"
    memory_format = torch.contiguous_format

    def cached_features(self, prep) -> None:
        return None  # no frozen encoder reads rows

    def frontend(
        self, spec, cfg, prep, input_shape: tuple, stats: tuple[list, list], load_pretrained: bool
    ) -> nn.Module:
        from lamina.models.tabular import ColumnScaling

        return ColumnScaling(prep)

    def normalization(self, spec, prep, stats: tuple[list, list]) -> tuple[list, list]:
        return stats

    def net_args(self, prep, load_pretrained: bool) -> tuple:
        return (prep, load_pretrained)  # its columns decide the numbers, the embeddings and a photo backbone

    def model_input(self, x: torch.Tensor, device: str) -> torch.Tensor:
        return x.to(device, non_blocking=True)

    def lengths(self, x) -> None:
        return None

    def training_view(self, model: nn.Module, cfg, data) -> tuple[nn.Module, None]:
        return model, None

    def graph_input(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def stored(self, inputs: np.ndarray) -> torch.Tensor:  # float32 (N, columns)
        return torch.from_numpy(np.ascontiguousarray(inputs, np.float32))

    def served(self, stored: torch.Tensor) -> np.ndarray:
        return stored.numpy()

    def preprocessing(self, prep, mean: list[float], std: list[float]) -> dict:
        return prep.to_dict()


class FeaturesFeed:
    """A frozen encoder's features (N, D) float32, as a head trained on them takes them."""

    name = "features"

    def model_input(self, x: torch.Tensor, device: str) -> torch.Tensor:
        return x.to(device, non_blocking=True)

    def lengths(self, x) -> None:
        return None


TORCH_MODALITIES = {m.name: m for m in (ImageTorch(), AudioTorch(), TextTorch(), TableTorch())}
FEEDS = {**TORCH_MODALITIES, "features": FeaturesFeed()}  # a split's stored form (SplitData.form) -> its feed


def torch_modality(prep_or_name) -> ImageTorch | AudioTorch | TextTorch | TableTorch:
    """The torch twin of a modality object (or of a modality's name)."""
    return TORCH_MODALITIES[getattr(prep_or_name, "name", prep_or_name)]


def feed(split) -> ImageTorch | AudioTorch | TextTorch | TableTorch | FeaturesFeed:
    """What turns batches of ``split`` (its stored form) into the network's input: ``model_input(x, device)`` and
    ``lengths(x)`` (per-sample lengths that batching groups by, or None)."""
    return FEEDS[split.form]


def audio_features(
    model: nn.Module, clips: torch.Tensor, augment, data, gen: torch.Generator, device: str, banks: torch.Tensor
) -> torch.Tensor:
    """A training batch of int16 clips (B, T) -> augmented features of the network's front end on the CPU.

    Waveform augmentation, the network's own front end with a randomly warped mel filterbank
    per clip (``banks``, see lamina.data.augment.warp_banks), then SpecAugment: the whole global
    batch on every rank, so torchrun ranks draw the same augmentation as one process would.
    """
    from lamina.models.kws import LogMel

    waves = augment_audio(clips, augment, gen, data.prep.sample_rate, data.noise)
    if not isinstance(model.frontend, LogMel):  # a pretrained model's own front end: waveform augmentation only
        return model.frontend(waves.to(device)).float().cpu()
    power = model.frontend.power(waves.to(device))
    feats = model.frontend.features(warped_mel(power, banks, gen)).float().cpu()
    return spec_augment(feats, augment, gen)
