"""Audio clips -> fixed-length int16 waveforms, and the log-mel parameters a model computes from them.

Decoding is soundfile (WAV, FLAC, OGG/Vorbis through libsndfile), resampling soxr (high
quality), several channels are averaged to mono, and the clip is padded with silence or
cropped to ``samples``: a longer clip keeps its loudest window (where a keyword most
likely is) and is reported. The same function serves training, ``lamina predict`` and the
server, so a clip becomes the same numbers everywhere. No torch here.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.common.errors import DataError, DecodeError, TooLarge, UnsupportedFormat
from lamina.data.file_samples import FileSamples

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
# The documented containers, by libsndfile's name (it reads 26; no other is parsed past its header).
AUDIO_FORMATS = frozenset({"WAV", "WAVEX", "FLAC", "OGG"})
MIN_SAMPLES = 160  # 10 ms at 16 kHz: anything shorter is no clip at all
SAMPLE_RATES = (4_000, 192_000)  # Hz accepted in a header: a file claiming 1 Hz would resample into millions of samples
MAX_AUDIO_SECONDS = 600.0  # longest file decoded (training's background-noise recordings included)


class AudioDecodeError(DecodeError):
    """A file that is not a usable clip; the message says why."""


class UnsupportedAudioFormat(AudioDecodeError, UnsupportedFormat):
    """A container lamina does not accept (only WAV, FLAC and OGG are)."""


class AudioTooLong(AudioDecodeError, TooLarge):
    """The header declares a clip longer than allowed; nothing was decoded."""


@dataclass(frozen=True)
class AudioPreprocess(FileSamples):
    """Everything that turns an audio file into the model's input and features, saved in the model package."""

    sample_rate: int = 16000  # Hz, after resampling
    duration: float = 1.0  # seconds per clip, after padding or cropping
    n_mels: int = 40  # mel bands
    window: float = 0.025  # seconds per STFT frame (Hann)
    hop: float = 0.010  # seconds between frames
    fmin: float = 20.0  # Hz, lowest mel band edge
    fmax: float = 7600.0  # Hz, highest mel band edge (below Nyquist)

    @property
    def samples(self) -> int:
        return int(round(self.sample_rate * self.duration))

    @property
    def n_fft(self) -> int:
        return int(round(self.sample_rate * self.window))

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * self.hop))

    @property
    def frames(self) -> int:
        return 1 + self.samples // self.hop_length  # centred frames (the signal is reflect-padded by n_fft // 2)

    # --- the modality interface: what a serving or scoring process asks (lamina.data.modality) ---------------
    name = "audio"
    datatype, dtype = "INT16", np.int16  # the exported graph's input: (N, samples) at sample_rate
    upload_noun = "an audio file"
    accept = "audio/*"
    folder_extensions = AUDIO_EXTENSIONS
    content_noun = "clips"  # what two duplicate samples share, in messages
    decode_in_processes = True

    graph_input_name = "clips"

    def graph_input(self) -> dict:
        """The exported graph's input, as lamina.json records it (the log-mel front end is inside the graph)."""
        return {
            "name": self.graph_input_name,
            "dtype": "int16",
            "shape": [-1, self.samples],
            "sample_rate": self.sample_rate,
        }

    def decode(self, data: bytes, limits=None, tokenizer=None) -> np.ndarray:
        """File bytes -> int16 (samples,). Raises DecodeError (UnsupportedFormat, TooLarge past ``limits``, a server's;
        None: the defaults)."""
        return load_audio(data, self, limits.max_audio_seconds if limits is not None else MAX_AUDIO_SECONDS).samples

    def cheap_to_decode(self, blobs: list[bytes], max_bytes: int, max_pixels: int) -> bool:
        """Never on a server's event loop: resampling a clip costs milliseconds."""
        return False

    def out_of_range(self, batch: np.ndarray) -> None:
        return None  # every int16 is a sample

    def parity_noise(self, rng: np.random.Generator) -> np.ndarray:
        """Noise and silence, for the export's parity check next to the package's real clips."""
        return np.concatenate(
            [rng.integers(-3000, 3000, (4, self.samples)).astype(np.int16), np.zeros((1, self.samples), np.int16)]
        )

    def preview(self, split, i: int) -> str:
        """HTML that shows sample ``i`` of a split (stored form) in a report: a player for the clip."""
        return audio_preview(split.x[i].numpy(), self.sample_rate)

    def config_values(self, columns) -> dict:
        """What the run's config.yaml records of this preprocessing (data.audio is the config's own)."""
        return {}

    def tokenizer_in(self, package: Path) -> None:
        return None

    def inputs(self, items: list, tokenizer=None) -> np.ndarray:
        """What ``Predictor.predict`` takes (audio files, bytes or int16 arrays) -> int16 (N, samples). Raises
        DataError naming the input."""
        return np.stack([self._input(item) for item in items]) if items else np.zeros((0, self.samples), np.int16)

    # --- the data path of files: FileSamples, and ---------------------------------------------------------------------
    @classmethod
    def infer(cls, cfg, train_samples: list) -> "AudioPreprocess":
        return cls(**cfg.audio.model_dump())

    @property
    def row_shape(self) -> tuple:
        return (self.samples,)

    def row_cache(self, root: Path):
        from lamina.data.cache import audio_cache

        return audio_cache(root, self)

    def stored(self, rows):  # int16 (N, samples)
        import torch

        return torch.from_numpy(np.asarray(rows))

    def statistics(self, x) -> tuple[list, list]:
        return [], []  # the log-mel front end needs no statistics of the data

    def near_duplicate_view(self, rows) -> np.ndarray:
        return np.zeros((0, 1, 1, 1), np.uint8)  # clips have no picture to compare

    def decode_note(self, data: bytes) -> dict | None:
        """A clip longer than the window: cropped to its loudest ``duration`` seconds (the header tells its length)."""
        seconds = clip_seconds(data)
        return (
            {"seconds": round(seconds, 3)}
            if seconds is not None and seconds * self.sample_rate > self.samples + 1
            else None
        )

    def decode_warnings(self, notes: list[dict]) -> list[dict]:
        if not notes:
            return []
        return [
            {
                "level": "warning",
                "kind": "cropped",
                "message": f"{len(notes)} clips are longer than {self.duration:g} s and were cropped to their loudest "
                f"{self.duration:g} s (data.audio.duration)",
                "paths": [f"{c['path']} ({c['seconds']:g} s)" for c in notes[:20]],
                "count": len(notes),
            }
        ]

    def background_noise(self, paths: list[Path], skipped: list) -> np.ndarray | None:
        """Background noise files (whole, mono, resampled) as one int16 (T,) array, or None when there are none."""
        parts = []
        for p in paths:
            try:
                parts.append(load_noise(p.read_bytes(), self))
            except (OSError, AudioDecodeError) as e:
                skipped.append({"path": str(p), "reason": f"cannot use as background noise ({e})"})
        return np.concatenate(parts) if parts else None

    def _input(self, item) -> np.ndarray:
        if isinstance(item, np.ndarray):
            if item.shape != (self.samples,) or item.dtype != np.int16:
                raise DataError(f"array input: expected int16 ({self.samples},), got {item.dtype} {item.shape}")
            return item
        try:
            return load_audio(Path(item) if isinstance(item, str) else item, self).samples
        except FileNotFoundError:
            raise DataError(f"{item}: no such file.") from None
        except AudioDecodeError as e:
            raise DataError(f"{item}: cannot decode audio ({e}).") from None

    def to_dict(self) -> dict:
        return {
            "sample_rate": self.sample_rate,
            "duration": self.duration,
            "n_mels": self.n_mels,
            "window": self.window,
            "hop": self.hop,
            "fmin": self.fmin,
            "fmax": self.fmax,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "AudioPreprocess":
        return cls(
            int(d["sample_rate"]),
            float(d["duration"]),
            int(d["n_mels"]),
            float(d["window"]),
            float(d["hop"]),
            float(d["fmin"]),
            float(d["fmax"]),
        )

    def input_spec(self) -> dict:
        return {
            "name": "waveform",
            "dtype": "float32",
            "shape": [-1, self.samples],
            "range": [-32768, 32767],
            "sample_rate": self.sample_rate,
        }


@dataclass
class Clip:
    """A decoded clip and what happened to it."""

    samples: np.ndarray  # (prep.samples,) int16
    cropped_from: float | None = None  # seconds of the original when it was longer than the window


def _loudest_window(x: np.ndarray, n: int, hop: int) -> int:
    """Start of the length-n window with the most energy (searched in steps of ``hop``)."""
    energy = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    starts = np.arange(0, len(x) - n + 1, hop)
    return int(starts[np.argmax(energy[starts + n] - energy[starts])])


def _check_header(data, max_seconds: float) -> None:
    """Refuse a file by its header alone: container, sample rate and length."""
    import soundfile as sf

    try:
        info = sf.info(data)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise AudioDecodeError(str(e).split("\n")[0][:200] or "unreadable audio") from None
    finally:
        if hasattr(data, "seek"):
            data.seek(0)
    if info.format not in AUDIO_FORMATS:
        raise UnsupportedAudioFormat(f"{info.format} audio is not accepted; send WAV, FLAC or OGG")
    lo, hi = SAMPLE_RATES
    if not lo <= info.samplerate <= hi:
        raise AudioDecodeError(f"sample rate {info.samplerate} Hz is outside {lo:,}..{hi:,} Hz")
    if info.frames > max_seconds * info.samplerate:
        raise AudioTooLong(f"the clip is {info.frames / info.samplerate:.1f} s long; the limit is {max_seconds:g} s")


def _decode_mono(src: str | Path | bytes, prep: AudioPreprocess, max_seconds: float = MAX_AUDIO_SECONDS) -> np.ndarray:
    """float32 (T,) in -1..1 at prep.sample_rate: header checked, decoded, channels averaged, resampled."""
    import soundfile as sf

    data = io.BytesIO(bytes(src)) if isinstance(src, (bytes, bytearray, memoryview)) else src
    _check_header(data, max_seconds)
    try:
        x, rate = sf.read(data, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise AudioDecodeError(str(e).split("\n")[0][:200] or "unreadable audio") from None
    if x.size == 0:
        raise AudioDecodeError("the clip has no samples (zero length)")
    x = x.mean(axis=1)  # (T,) mono
    if rate != prep.sample_rate:
        import soxr

        x = soxr.resample(x, rate, prep.sample_rate, quality="HQ")
    if not np.isfinite(x).all():
        raise AudioDecodeError("the clip holds NaN or infinite samples")
    return x


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def load_audio(src: str | Path | bytes, prep: AudioPreprocess, max_seconds: float = MAX_AUDIO_SECONDS) -> Clip:
    """Decode, mix to mono, resample and pad/crop one clip to int16 (prep.samples,).

    Args:
        max_seconds: longest clip accepted, read from the header before anything is decoded.

    Raises:
        AudioDecodeError: not a readable WAV/FLAC/OGG, no samples, or shorter than 10 ms;
            UnsupportedAudioFormat for another container, AudioTooLong past ``max_seconds``.
    """
    x = _decode_mono(src, prep, max_seconds)
    if len(x) < MIN_SAMPLES * prep.sample_rate // 16000:
        raise AudioDecodeError(f"the clip is {len(x) / prep.sample_rate * 1000:.1f} ms long; at least 10 ms are needed")
    n, cropped = prep.samples, None
    if len(x) > n:
        cropped = len(x) / prep.sample_rate
        start = _loudest_window(x, n, prep.hop_length)
        x = x[start : start + n]
    elif len(x) < n:
        left = (n - len(x)) // 2
        x = np.pad(x, (left, n - len(x) - left))
    return Clip(_to_int16(x), cropped)


def load_noise(src: bytes, prep: AudioPreprocess) -> np.ndarray:
    """A whole noise recording, mono and resampled, as int16 (T,) (at least one clip long: repeated when shorter)."""
    x = _decode_mono(src, prep)
    if len(x) < prep.samples:
        x = np.tile(x, -(-prep.samples // len(x)))
    return _to_int16(x)


def clip_seconds(src: bytes) -> float | None:
    """The length of an audio file in seconds from its header alone (None when unreadable)."""
    import soundfile as sf

    try:
        info = sf.info(io.BytesIO(src))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None
    return info.frames / info.samplerate if info.samplerate else None


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """int16 or float (-1..1) mono samples -> a 16-bit PCM WAV file."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), samples, sample_rate, subtype="PCM_16")
    return path


def audio_preview(x: np.ndarray, sample_rate: int) -> str:
    """An <audio> player holding one int16 clip as an inline 16-bit WAV (a 1 s clip at 16 kHz is ~43 KB as base64)."""
    import struct

    pcm = np.ascontiguousarray(x, dtype="<i2").tobytes()
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + len(pcm))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, 2 * sample_rate, 2, 16)
    )
    wav = header + b"data" + struct.pack("<I", len(pcm)) + pcm
    return f'<audio controls preload="none" src="data:audio/wav;base64,{base64.b64encode(wav).decode()}"></audio>'
