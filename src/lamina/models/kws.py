"""Keyword spotting: a log-mel front end (in the graph) and a depthwise-separable CNN over it.

The front end is the network's first layer, as input normalisation is for images: it takes
waveforms (B, T) in int16 units and returns log-mel features (B, 1, n_mels, frames), so the
ONNX export carries the feature computation and a server only decodes audio. The STFT is a
strided 1-D convolution with a windowed DFT basis (exports to any ONNX runtime, runs on
whole batches); the mel matrix is lamina.data.mel.mel_filterbank, checked against librosa
in the tests. Each utterance's mean per mel band is subtracted (cepstral mean
normalisation), which removes a fixed spectral tilt: a microphone's, or a voice's.

DS-CNN follows Zhang et al., "Hello Edge: Keyword Spotting on Microcontrollers" (2017): a
strided full convolution, then depthwise 3x3 + pointwise 1x1 blocks, average pooling and
one linear layer; the small variant (64 channels, 4 blocks) reaches ~94% on Google Speech
Commands with ~24k parameters.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lamina.common.config import ModelConfig
from lamina.models.network import Network
from lamina.data.audio import AudioPreprocess
from lamina.data.mel import mel_filterbank

DEFAULTS = {"width": 64, "depth": 4, "dropout": 0.2}  # channels, depthwise-separable blocks (benchmarks/DEFAULTS.md)
# Evaluation in batches of 128 instead of 512: 2-3x the clips/s (activations of 512 clips overflow the caches) and
# ~490 MB less peak memory in the final fp32 evaluation (benchmarks/DEFAULTS.md).
TRAIN_DEFAULTS = {"eval_batch_size": 128}
LOG_FLOOR = 1e-6  # added to mel power before the log (power of a -120 dB signal in full-scale units)


class LogMel(nn.Module):
    """int16-unit waveforms (B, T) -> mean-normalised log-mel features (B, 1, n_mels, frames)."""

    def __init__(self, prep: AudioPreprocess):
        super().__init__()
        n, bins = prep.n_fft, prep.n_fft // 2 + 1
        t = np.arange(n)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * t / n)  # periodic Hann, as torch.hann_window and librosa use
        freqs = np.arange(bins)[:, None] * t[None, :] * (2 * np.pi / n)  # (bins, n)
        basis = np.concatenate([np.cos(freqs), -np.sin(freqs)]) * window  # (2 * bins, n): real and imaginary parts
        self.register_buffer("basis", torch.tensor(basis, dtype=torch.float32).unsqueeze(1))  # (2 * bins, 1, n)
        self.register_buffer("mel", torch.from_numpy(mel_filterbank(prep)))  # (n_mels, bins)
        self.n_fft, self.hop, self.bins = n, prep.hop_length, bins

    def power(self, x: torch.Tensor) -> torch.Tensor:  # (B, T) int16 units -> (B, bins, frames)
        """Power spectrogram of the waveform scaled to -1..1 (centred frames, reflect padding), in fp32."""
        # (B, 1, T); fp32 whatever the autocast: the DFT needs the precision
        x = (x.float() * (1.0 / 32768.0)).unsqueeze(1)
        x = nn.functional.pad(x, (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        with torch.autocast(device_type=x.device.type, enabled=False):
            spec = nn.functional.conv1d(x, self.basis, stride=self.hop)  # (B, 2 * bins, frames)
            return spec[:, : self.bins] ** 2 + spec[:, self.bins :] ** 2

    def mel_power(self, x: torch.Tensor) -> torch.Tensor:  # (B, T) int16 units -> (B, n_mels, frames)
        """Mel-weighted power spectrogram (librosa.feature.melspectrogram's quantity)."""
        return torch.matmul(self.mel, self.power(x))

    @staticmethod
    def features(mel_power: torch.Tensor) -> torch.Tensor:  # (B, M, F) -> (B, 1, M, F)
        """Log, then each band's mean over the utterance removed."""
        logmel = torch.log(mel_power + LOG_FLOOR)
        return (logmel - logmel.mean(dim=2, keepdim=True)).unsqueeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(self.mel_power(x))  # (B, 1, M, F)


class Separable(nn.Module):
    """Depthwise 3x3 -> BN -> ReLU -> pointwise 1x1 -> BN -> ReLU."""

    def __init__(self, width: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, groups=width, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class DSCNN(Network):
    """(B, 1, n_mels, frames) log-mel features -> logits (B, K)."""

    def __init__(self, num_classes: int, width: int, depth: int, dropout: float):
        super().__init__()
        self.stem = nn.Sequential(
            nn.BatchNorm2d(1),  # the features' scale, learned from the data
            nn.Conv2d(1, width, (4, 10), stride=2, padding=(1, 4), bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.Sequential(*(Separable(width) for _ in range(depth)))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(self.dropout(torch.flatten(self.pool(x), 1)))


def build(cfg: ModelConfig, input_shape: tuple, num_classes: int) -> nn.Module:
    return DSCNN(num_classes, cfg.width, cfg.depth, cfg.dropout)
