"""The mel filterbank of the log-mel front end (lamina.models.kws.LogMel) and of its warped copies for augmentation,
in numpy: tests check it against librosa's within a tolerance."""

from __future__ import annotations

import numpy as np


def _hz_to_mel(f):
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, lin)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    lin = m * (200.0 / 3)
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
    return np.where(m >= 15.0, log, lin)


def mel_filterbank(prep, warp: float = 1.0) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 triangular filters for ``prep`` (lamina.data.audio.AudioPreprocess), Slaney-normalised (equal area), as librosa.filters.mel.

    ``warp`` != 1 reads the spectrum on a stretched frequency axis (a component at f Hz lands
    in the band of warp * f): vocal tract length perturbation (Jaitly & Hinton, 2013).
    """
    freqs = np.linspace(0, prep.sample_rate / 2, prep.n_fft // 2 + 1) * warp
    edges = _mel_to_hz(np.linspace(_hz_to_mel(prep.fmin), _hz_to_mel(prep.fmax), prep.n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)
