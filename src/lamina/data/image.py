"""Image decoding and preprocessing: one implementation, used by training, evaluation,
prediction and (later) serving. numpy + Pillow only, no torch, so a server can import it.

An image becomes uint8 (H, W, C): decoded, converted to L or RGB, resized to a square side.
Normalisation (mean/std) is not done here: it is the model's first layer, so it travels
inside the exported graph.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass

import numpy as np

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})


class ImageDecodeError(ValueError):
    """The bytes are not a decodable image (message says why)."""


@dataclass(frozen=True)
class ImagePreprocess:
    """Everything that turns an image file into the model's input, saved in the model package."""

    size: int  # pixels, square side after resizing
    channels: int  # 1 (L) or 3 (RGB)
    resample: str = "bilinear"  # Pillow filter used when the size differs

    def to_dict(self) -> dict:
        return {"size": self.size, "channels": self.channels, "resample": self.resample}

    @classmethod
    def from_dict(cls, d: dict) -> "ImagePreprocess":
        return cls(size=int(d["size"]), channels=int(d["channels"]), resample=d.get("resample", "bilinear"))

    def input_spec(self) -> dict:
        """The network's input, as lamina.json records it."""
        return {"name": "pixels", "dtype": "float32", "shape": [-1, self.channels, self.size, self.size], "layout": "NCHW", "range": [0, 255]}


def _open(src):
    from PIL import Image

    if isinstance(src, (bytes, bytearray, memoryview)):
        src = io.BytesIO(bytes(src))
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(src)
            img.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            raise ImageDecodeError(_reason(e)) from None
    return img


def _reason(e: Exception) -> str:
    text = str(e) or type(e).__name__
    if "truncated" in text.lower():
        return "truncated image"
    if "cannot identify image file" in text:
        return "not a recognised image format"
    return text


def peek(path: str | os.PathLike) -> tuple[int, int, bool]:
    """Read only the header: (width, height, is_grayscale). Raises ImageDecodeError."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.width, img.height, img.mode in _GRAY_MODES
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageDecodeError(_reason(e)) from None


def load_image(src, prep: ImagePreprocess) -> np.ndarray:
    """Decode a file path, bytes or PIL image into uint8 (size, size, channels).

    Raises:
        ImageDecodeError: the input is not a decodable image.
    """
    from PIL import Image

    img = src if isinstance(src, Image.Image) else _open(src)
    mode = "L" if prep.channels == 1 else "RGB"
    if img.mode != mode:
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            # Composite transparent pixels on white, as viewers show them, rather than on black.
            img = img.convert("RGBA")
            background = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, img)
        img = img.convert(mode)
    if img.size != (prep.size, prep.size):
        filt = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}[prep.resample]
        img = img.resize((prep.size, prep.size), filt)
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr)
