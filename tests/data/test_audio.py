"""Audio: decoding, resampling, padding and cropping; log-mel features against librosa; seeded augmentation."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import torch

from lamina.common.config import AugmentConfig
from lamina.data.audio import AudioDecodeError, AudioPreprocess, load_audio
from lamina.data.mel import mel_filterbank
from lamina.data.augment import add_noise, augment_audio, shift_and_stretch, spec_augment

PREP = AudioPreprocess()


def _encode(x: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def _tone(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("FLAC", None), ("OGG", "VORBIS")])
def test_formats_resample_to_16k_mono(fmt, subtype):
    left = _tone(1000, 0.6, 44100)
    stereo = np.stack([left, left], axis=1)  # two equal channels: the mono mix is the same tone
    clip = load_audio(_encode(stereo, 44100, fmt, subtype), PREP)
    x = clip.samples.astype(np.float64) / 32768
    assert clip.samples.dtype == np.int16 and x.shape == (16000,) and clip.cropped_from is None
    spectrum = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spectrum) * 16000 / len(x) - 1000) <= 2  # still 1 kHz after 44.1k -> 16k
    assert abs(np.abs(x).max() - 0.5) < 0.02  # amplitude kept (soxr, no clipping, no gain)
    middle = x[3200:12800]  # centred: 0.6 s of tone in the middle, 0.2 s of silence each side
    assert np.abs(x[:3000]).max() < 0.01 and np.abs(x[-3000:]).max() < 0.01 and np.abs(middle).max() > 0.45


def test_long_clip_keeps_its_loudest_second():
    x = _tone(300, 3.0, 16000, amp=0.01)
    x[32000:36000] = _tone(800, 0.25, 16000, amp=0.8)  # the "word" at 2.0-2.25 s
    clip = load_audio(_encode(x, 16000, "WAV"), PREP)
    assert clip.cropped_from == pytest.approx(3.0) and np.abs(clip.samples).max() > 0.7 * 32768


@pytest.mark.parametrize(
    "blob,reason",
    [
        (b"", "Format not recognised"),
        (b"RIFF\x00\x00\x00\x00WAVEjunk" * 3, "."),
        (None, "zero length"),
        ("short", "at least 10 ms"),
    ],
)
def test_bad_clips_raise(blob, reason):
    if blob is None:
        blob = _encode(np.zeros(0, np.float32), 16000, "WAV")
    elif blob == "short":
        blob = _encode(np.zeros(80, np.float32), 16000, "WAV")
    with pytest.raises(AudioDecodeError, match=reason):
        load_audio(blob, PREP)


def test_mel_filterbank_and_log_mel_match_librosa():
    import librosa  # test-only dependency (the test extra)

    ref = librosa.filters.mel(
        sr=16000, n_fft=PREP.n_fft, n_mels=PREP.n_mels, fmin=PREP.fmin, fmax=PREP.fmax, htk=False, norm="slaney"
    )
    np.testing.assert_allclose(mel_filterbank(PREP), ref, rtol=1e-4, atol=1e-7)
    from lamina.models.kws import LogMel

    rng = np.random.default_rng(0)
    x = (rng.standard_normal(16000) * 0.1 + _tone(440, 1.0, 16000, 0.3)).astype(np.float32)
    x16 = np.clip(np.round(x * 32768), -32768, 32767).astype(np.int16)
    ours = LogMel(PREP).mel_power(torch.from_numpy(x16)[None].float())[0].numpy()
    theirs = librosa.feature.melspectrogram(
        y=x16.astype(np.float32) / 32768,
        sr=16000,
        n_fft=PREP.n_fft,
        hop_length=PREP.hop_length,
        win_length=PREP.n_fft,
        window="hann",
        center=True,
        pad_mode="reflect",
        power=2.0,
        n_mels=PREP.n_mels,
        fmin=PREP.fmin,
        fmax=PREP.fmax,
        htk=False,
        norm="slaney",
    )
    assert ours.shape == theirs.shape == (PREP.n_mels, PREP.frames)
    # Stated tolerance: 1e-4 of each band's peak (float32 DFT as a convolution vs numpy's float64 FFT).
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4 * theirs.max())
    np.testing.assert_allclose(np.log(ours + 1e-6), np.log(theirs + 1e-6), atol=2e-3)


def test_augmentation_is_seeded_and_does_what_it_says():
    cfg = AugmentConfig()
    x = torch.from_numpy(
        np.stack([(_tone(500 + 100 * i, 0.5, 16000, 0.3) * 32768).astype(np.int16) for i in range(6)])
        # (6, 16000)
    ).repeat(1, 2)
    bank = torch.from_numpy((np.random.default_rng(1).standard_normal(50000) * 3000).astype(np.int16))
    a = augment_audio(x, cfg, torch.Generator().manual_seed(5), 16000, bank)
    b = augment_audio(x, cfg, torch.Generator().manual_seed(5), 16000, bank)
    c = augment_audio(x, cfg, torch.Generator().manual_seed(6), 16000, bank)
    assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == x.shape and a.abs().max() <= 32768
    ones = torch.ones(2)
    same = shift_and_stretch(x[:2].float(), torch.zeros(2), ones)
    torch.testing.assert_close(same, x[:2].float())  # no shift, speed 1: the identity
    moved = shift_and_stretch(x[:1].float(), torch.tensor([100.0]), torch.ones(1))
    torch.testing.assert_close(moved[0, 100:], x[0, :-100].float())  # +100 samples later, silence before
    assert moved[0, :100].abs().max() == 0
    fast = shift_and_stretch(x[:1].float(), torch.zeros(1), torch.tensor([1.25]))
    f0 = np.argmax(np.abs(np.fft.rfft(fast[0, 5000:11000].numpy())))
    f1 = np.argmax(np.abs(np.fft.rfft(x[0, 5000:11000].float().numpy())))
    assert f0 == pytest.approx(1.25 * f1, rel=0.03)  # 25% faster = 25% higher, as with tape
    snr_cfg = AugmentConfig(noise=1.0, snr_db=(10.0, 10.0))
    clean = x.float()
    noisy = add_noise(clean, snr_cfg, torch.Generator().manual_seed(0), bank)
    snr = 10 * torch.log10(clean.pow(2).mean(1) / (noisy - clean).pow(2).mean(1))
    assert torch.allclose(snr, torch.full_like(snr, 10.0), atol=0.5)


def test_spec_augment_masks_within_limits_and_is_seeded():
    feats = torch.ones((8, 1, 40, 101))
    cfg = AugmentConfig(time_masks=2, freq_masks=2)
    a = spec_augment(feats, cfg, torch.Generator().manual_seed(1))
    assert torch.equal(a, spec_augment(feats, cfg, torch.Generator().manual_seed(1)))
    masked = (a == 0).float().mean(dim=(1, 2, 3))
    assert (masked > 0).any() and (
        masked <= 1 - (1 - 0.2) * (1 - 0.3) + 1e-6
        # 2x10% of time, 2x15% of bands at most
    ).all()
    none = spec_augment(feats, AugmentConfig(time_masks=0, freq_masks=0), torch.Generator().manual_seed(1))
    assert torch.equal(none, feats)


def _wav_header_claiming(rate: int, data_bytes: int) -> bytes:
    """A 16-bit mono WAV whose header says ``rate`` Hz; ``data_bytes`` of zero samples follow."""
    import struct

    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes)
        + b"\0" * data_bytes
    )


def test_absurd_sample_rates_are_refused_from_the_header():
    import time

    start = time.monotonic()
    with pytest.raises(AudioDecodeError, match="sample rate 1 Hz is outside"):
        load_audio(_wav_header_claiming(1, 4000), PREP)  # resampled, 4 KB would become 32 M samples
    with pytest.raises(AudioDecodeError, match="sample rate 100 Hz"):
        load_audio(_wav_header_claiming(100, 20000), PREP)
    assert time.monotonic() - start < 1


def test_clips_longer_than_the_limit_are_refused_before_decoding():
    from lamina.data.audio import AudioTooLong

    data = _encode(_tone(440, 3.0, 8000), 8000, "WAV", "PCM_16")
    with pytest.raises(AudioTooLong, match="3.0 s long; the limit is 2 s"):
        load_audio(data, PREP, max_seconds=2)
    assert load_audio(data, PREP, max_seconds=4).cropped_from == pytest.approx(3.0)


@pytest.mark.parametrize("fmt,subtype", [("AIFF", "PCM_16"), ("AU", "PCM_16"), ("CAF", "PCM_16")])
def test_containers_outside_wav_flac_ogg_are_refused(fmt, subtype):
    from lamina.data.audio import UnsupportedAudioFormat

    with pytest.raises(UnsupportedAudioFormat, match="not accepted; send WAV, FLAC or OGG"):
        load_audio(_encode(_tone(440, 0.5, 16000), 16000, fmt, subtype), PREP)
