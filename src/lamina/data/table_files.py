"""A table's file columns: a cell names a picture or a sound clip, the row holds its pixels or samples.

An image cell becomes the picture's pixels as the photo backbone takes them (decoded, upright, RGB, resized and
centre-cropped by lamina.data.image), flattened into the row as float32 in height x width x channel order; an audio
cell the clip's int16 samples as speech_embedding takes them (mono, 16 kHz, padded or cropped to its loudest
``duration`` seconds by lamina.data.audio). The exported graph takes the whole row, and its first layers read the
pixels back as a picture and the samples as a clip (lamina.models.file_columns). A missing file (an empty cell) is
NaN, which the network flags as missing.

Where the file comes from depends on who sends the row: in a table on disk (training, evaluation, batch
scoring, ``lamina predict``) a cell is a path relative to the table's folder; a server never opens paths, so a
request sends the file itself, base64 encoded (a ``data:`` URL's prefix is allowed), as JSON carries bytes.
No torch here: the server uses it.
"""

from __future__ import annotations

import base64
import binascii
import math
from pathlib import Path

import numpy as np

from lamina.common.errors import DecodeError
from lamina.data.audio import AudioPreprocess, load_audio
from lamina.data.image import ImagePreprocess, load_image

IMAGE_SIDE = 224  # what the photo backbone was trained at (lamina.models.efficientnet)
IMAGE_FIT = "crop"  # the backbone's own: the shorter side to IMAGE_SIDE, the centre square
CLIP_RATE = 16000  # Hz: what speech_embedding was trained at (lamina.models.speech_embedding)
MAX_FILE_BYTES = 64 << 20  # bytes of one file in a row
VALUE_RANGE = {"image": (0, 255), "audio": (-32768, 32767)}  # a pixel's, a sample's


class CellRefused(DecodeError):
    """A file cell that cannot be read; the message is a whole sentence."""

    prefixed = False


def image_column(name: str, side: int | None, fit: str | None) -> dict:
    """The preprocessing of an image column: data.image_size and data.image_fit, else the backbone's own."""
    side = int(side or IMAGE_SIDE)
    return {
        "name": name,
        "kind": "image",
        "size": side,
        "channels": 3,
        "fit": fit if fit in ("crop", "pad", "squash") else IMAGE_FIT,
        "resample": "bilinear",
        "width": side * side * 3,
    }


def audio_column(name: str, duration: float) -> dict:
    """The preprocessing of an audio column: data.audio.duration seconds at speech_embedding's rate."""
    samples = AudioPreprocess(sample_rate=CLIP_RATE, duration=duration).samples
    return {"name": name, "kind": "audio", "sample_rate": CLIP_RATE, "duration": duration, "width": samples}


def image_prep(column: dict) -> ImagePreprocess:
    return ImagePreprocess(column["size"], column["channels"], column["resample"], column["fit"])


def audio_prep(column: dict) -> AudioPreprocess:
    return AudioPreprocess(sample_rate=column["sample_rate"], duration=column["duration"])


def _pixels(data: bytes, column: dict) -> np.ndarray:
    return load_image(data, image_prep(column)).reshape(-1)


def _samples(data: bytes, column: dict) -> np.ndarray:
    return load_audio(data, audio_prep(column)).samples


DECODERS = {"image": _pixels, "audio": _samples}  # file bytes -> the values a row holds


def file_cell(column: dict, value, where: str, root: Path | None) -> np.ndarray:
    """float32 (width,): the file a cell names (a path under ``root``), or sends (bytes, base64 text), decoded as its
    column's kind; NaN when the cell is empty. Raises CellRefused naming the column."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return np.full(column["width"], math.nan, np.float32)
    at = f"{where}: column '{column['name']}'"
    data = _file_bytes(value, root, at)
    try:
        values = DECODERS[column["kind"]](data, column)
    except DecodeError as e:
        file = f" {value.strip()}:" if isinstance(value, str) and root is not None else ""
        raise CellRefused(f"{at}:{file} {e}") from None
    return values.astype(np.float32)


def _file_bytes(value, root: Path | None, where: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if not isinstance(value, str):
        raise CellRefused(f"{where}: expected a file, got {type(value).__name__}")
    if root is None:
        return _base64_file(value, where)
    path = Path(value.strip())
    path = path if path.is_absolute() else root / path
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise CellRefused(f"{where}: {value} is larger than {MAX_FILE_BYTES:,} bytes")
        return path.read_bytes()
    except OSError as e:
        raise CellRefused(f"{where}: cannot read {value} ({e.strerror})") from None


def _base64_file(text: str, where: str) -> bytes:
    body = text.strip()
    if body.startswith("data:"):
        body = body.partition(",")[2]
    if len(body) > MAX_FILE_BYTES * 4 // 3 + 4:
        raise CellRefused(f"{where}: the file is larger than {MAX_FILE_BYTES:,} bytes")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise CellRefused(f"{where}: expected the file's bytes as base64 text (a server does not open paths)") from None


def file_noise(column: dict, rng: np.random.Generator, rows: int) -> np.ndarray:
    """float32 (rows, width) random pictures or clips, the first one missing: inputs for the export's parity check."""
    low, high = VALUE_RANGE[column["kind"]]
    out = rng.integers(low, high + 1, (rows, column["width"])).astype(np.float32)
    out[0] = math.nan
    return out


def out_of_range(column: dict, part: np.ndarray) -> str | None:
    """Why a file column's values are not its kind's (pixels 0..255, samples -32768..32767, or NaN: no file)."""
    low, high = VALUE_RANGE[column["kind"]]
    finite = part[~np.isnan(part)]
    if finite.size and (finite.min() < low or finite.max() > high):
        return f"column '{column['name']}' holds values {low}..{high} (NaN: no file)"
    return None
