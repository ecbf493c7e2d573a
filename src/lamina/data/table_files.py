"""A table's image columns: a cell names a picture, the row holds its pixels.

An image cell becomes the picture's pixels as the photo backbone takes them (decoded, upright, RGB, resized and
centre-cropped by lamina.data.image), flattened into the row as float32 in height x width x channel order: the
exported graph takes the whole row, and its first layers read the pixels back as a picture (lamina.models.tabular).
A missing picture (an empty cell) is NaN, which the network flags as missing.

Where the picture comes from depends on who sends the row: in a table on disk (training, evaluation, batch
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
from lamina.data.image import ImagePreprocess, load_image

IMAGE_SIDE = 224  # what the photo backbone was trained at (lamina.models.efficientnet)
IMAGE_FIT = "crop"  # the backbone's own: the shorter side to IMAGE_SIDE, the centre square
MAX_IMAGE_FILE = 64 << 20  # bytes of one picture in a row


class CellRefused(DecodeError):
    """An image cell that cannot be read; the message is a whole sentence."""

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


def image_prep(column: dict) -> ImagePreprocess:
    return ImagePreprocess(column["size"], column["channels"], column["resample"], column["fit"])


def image_cell(column: dict, value, where: str, root: Path | None) -> np.ndarray:
    """float32 (width,): the picture a cell names (a path under ``root``), or sends (bytes, base64 text); NaN when the
    cell is empty. Raises CellRefused naming the column."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return np.full(column["width"], math.nan, np.float32)
    at = f"{where}: column '{column['name']}'"
    data = _picture_bytes(value, root, at)
    try:
        pixels = load_image(data, image_prep(column))
    except DecodeError as e:
        file = f" {value.strip()}:" if isinstance(value, str) and root is not None else ""
        raise CellRefused(f"{at}:{file} {e}") from None
    return pixels.reshape(-1).astype(np.float32)


def _picture_bytes(value, root: Path | None, where: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if not isinstance(value, str):
        raise CellRefused(f"{where}: expected an image file, got {type(value).__name__}")
    if root is None:
        return _base64_file(value, where)
    path = Path(value.strip())
    path = path if path.is_absolute() else root / path
    try:
        if path.stat().st_size > MAX_IMAGE_FILE:
            raise CellRefused(f"{where}: {value} is larger than {MAX_IMAGE_FILE:,} bytes")
        return path.read_bytes()
    except OSError as e:
        raise CellRefused(f"{where}: cannot read {value} ({e.strerror})") from None


def _base64_file(text: str, where: str) -> bytes:
    body = text.strip()
    if body.startswith("data:"):
        body = body.partition(",")[2]
    if len(body) > MAX_IMAGE_FILE * 4 // 3 + 4:
        raise CellRefused(f"{where}: the image is larger than {MAX_IMAGE_FILE:,} bytes")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise CellRefused(
            f"{where}: expected the image file's bytes as base64 text (a server does not open paths)"
        ) from None


def image_noise(column: dict, rng: np.random.Generator, rows: int) -> np.ndarray:
    """float32 (rows, width) random pictures, the first one missing: inputs for the export's parity check."""
    out = rng.integers(0, 256, (rows, column["width"])).astype(np.float32)
    out[0] = math.nan
    return out


def pixels_out_of_range(part: np.ndarray) -> bool:
    """Whether image columns' values are not pixels (0..255, or NaN for a missing picture)."""
    finite = part[~np.isnan(part)]
    return bool(finite.size and (finite.min() < 0 or finite.max() > 255))
