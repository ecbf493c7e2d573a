"""Image decoding and preprocessing: one implementation, used by training, evaluation,
prediction and (later) serving. numpy + Pillow only, no torch, so a server can import it.

An image becomes uint8 (H, W, C): decoded, turned upright by its EXIF orientation, converted
to L or RGB (transparent pixels on white), then either squashed to a square side ("squash",
small sets trained from scratch) or resized by its shorter side and centre-cropped ("crop",
photos for a pretrained backbone, which keeps their proportions). A JPEG that is cropped is
decoded at the smallest DCT scale that still covers the target size (a phone photo decodes
at 1/8 of its pixels).
Normalisation (mean/std) is not done here: it is the model's first layer, so it travels
inside the exported graph.
"""

from __future__ import annotations

import base64
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.common.errors import DataError, DecodeError, TooLarge, UnsupportedFormat
from lamina.data.file_samples import FileSamples

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})
# The documented formats, by Pillow's name: Image.open tries no other plugin, so an upload
# never reaches the EPS (Ghostscript), TIFF, PSD, ... parsers.
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "WEBP")
MAX_IMAGE_PIXELS = 89_478_485  # width x height, checked from the header before decoding (Pillow's own warning level)
MAX_JPEG_SCANS = 64  # progressive JPEGs have ~10; each scan is a full pass over the image, so 1,000 cost minutes
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})


class ImageDecodeError(DecodeError):
    """The bytes are not a decodable image (message says why)."""


class UnsupportedImageFormat(ImageDecodeError, UnsupportedFormat):
    """The bytes are an image, or something else, in a format lamina does not accept."""


class ImageTooLarge(ImageDecodeError, TooLarge):
    """The header declares more pixels than allowed (or more JPEG scans); nothing was decoded."""


@dataclass(frozen=True)
class ImagePreprocess(FileSamples):
    """Everything that turns an image file into the model's input, saved in the model package."""

    size: int  # pixels, square side after resizing
    channels: int  # 1 (L) or 3 (RGB)
    resample: str = "bilinear"  # Pillow filter used when the size differs
    fit: str = "squash"  # "squash": resize to size x size; "crop": shorter side to size, then the centre square

    def to_dict(self) -> dict:
        return {"size": self.size, "channels": self.channels, "resample": self.resample, "fit": self.fit}

    @classmethod
    def from_dict(cls, d: dict) -> "ImagePreprocess":
        return cls(
            size=int(d["size"]),
            channels=int(d["channels"]),
            resample=d.get("resample", "bilinear"),
            fit=d.get("fit", "squash"),
        )

    def input_spec(self) -> dict:
        """The network's input, as lamina.json records it."""
        return {
            "name": "pixels",
            "dtype": "float32",
            "shape": [-1, self.channels, self.size, self.size],
            "layout": "NCHW",
            "range": [0, 255],
        }

    # --- the modality interface: what a serving or scoring process asks (lamina.data.modality) ---------------
    name = "image"
    datatype, dtype = "UINT8", np.uint8  # the exported graph's input: (N, H, W, C) pixels
    upload_noun = "an image file"
    accept = "image/*"  # what a browser's file chooser offers
    folder_extensions = IMAGE_EXTENSIONS  # the files batch scoring takes from a folder
    content_noun = "file contents"  # what two duplicate samples share, in messages
    decode_in_processes = True  # decoding is Python-heavy: batch scoring spreads it over processes

    graph_input_name = "images"

    def graph_input(self) -> dict:
        """The exported graph's input, as lamina.json records it."""
        return {
            "name": self.graph_input_name,
            "dtype": "uint8",
            "shape": [-1, self.size, self.size, self.channels],
            "layout": "NHWC",
        }

    def decode(self, data: bytes, limits=None, tokenizer=None) -> np.ndarray:
        """File bytes -> uint8 (size, size, channels). Raises DecodeError (UnsupportedFormat, TooLarge past ``limits``,
        a server's; None: the defaults)."""
        return load_image(data, self, limits.max_image_pixels if limits is not None else MAX_IMAGE_PIXELS)

    def cheap_to_decode(self, blobs: list[bytes], max_bytes: int, max_pixels: int) -> bool:
        """Small enough, by size and declared pixels, to decode on a server's event loop."""
        return sum(map(len, blobs)) <= max_bytes and all(
            (pixels_in_header(b) or max_pixels + 1) <= max_pixels for b in blobs
        )

    def out_of_range(self, batch: np.ndarray) -> None:
        return None  # every uint8 is a pixel value

    def parity_noise(self, rng: np.random.Generator) -> np.ndarray:
        """Inputs no data set holds, for the export's parity check next to the package's real samples."""
        return rng.integers(0, 256, (8, self.size, self.size, self.channels), dtype=np.uint8)

    def preview(self, split, i: int) -> str:
        """HTML that shows sample ``i`` of a split (stored form) in a report: the image."""
        return image_preview(split.x[i].numpy())

    def config_values(self, columns) -> dict:
        """What the run's config.yaml records of this preprocessing (data.*)."""
        return {"image_size": self.size, "channels": self.channels, "image_fit": self.fit}

    def tokenizer_in(self, package: Path) -> None:
        return None

    def inputs(self, items: list, tokenizer=None) -> np.ndarray:
        """What ``Predictor.predict`` takes (image files, bytes, PIL images or uint8 arrays) -> uint8 (N, H, W, C).
        Raises DataError naming the input."""
        if not items:
            return np.zeros((0, self.size, self.size, self.channels), np.uint8)
        return np.stack([self._input(item) for item in items])

    # --- the data path of files: FileSamples, and ---------------------------------------------------------------------
    @classmethod
    def infer(cls, cfg, train_samples: list) -> "ImagePreprocess":
        """data.image_size and data.channels, or what the training images' headers suggest."""
        from lamina.data.image_facts import infer_prep

        return infer_prep(cfg, train_samples)

    @property
    def row_shape(self) -> tuple:
        return (self.size, self.size, self.channels)

    def row_cache(self, root: Path):
        from lamina.data.cache import image_cache

        return image_cache(root, self)

    def stored(self, rows):
        """uint8 rows (N, H, W, C) -> (N, C, H, W) in channels-last memory (over the cache: read per batch)."""
        from lamina.data.pixel_rows import pixel_tensor

        return pixel_tensor(rows)

    def statistics(self, x) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of the training pixels (the network's input normalisation without pretraining)."""
        from lamina.data.pixel_rows import channel_mean_std

        return channel_mean_std(x)

    def near_duplicate_view(self, rows):
        return rows

    def decode_note(self, data: bytes) -> None:
        return None

    def decode_warnings(self, notes: list[dict]) -> list[dict]:
        return []

    def background_noise(self, paths: list, skipped: list) -> None:
        return None

    def _input(self, item) -> np.ndarray:
        if isinstance(item, np.ndarray):
            arr = item if item.ndim == 3 else item[:, :, None]
            expected = (self.size, self.size, self.channels)
            if arr.shape != expected or arr.dtype != np.uint8:
                raise DataError(f"array input: expected uint8 {expected}, got {arr.dtype} {arr.shape}")
            return arr
        try:
            return load_image(Path(item) if isinstance(item, str) else item, self)
        except FileNotFoundError:
            raise DataError(f"{item}: no such file.") from None
        except ImageDecodeError as e:
            raise DataError(f"{item}: cannot decode image ({e}).") from None


def _jpeg_segments(data: bytes):
    """(marker, position) of each marker segment of a JPEG stream, walking the segment lengths (entropy-coded data,
    stuffed bytes and restart markers are skipped), up to the end-of-image marker."""
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            pos = data.find(b"\xff", pos)  # inside entropy-coded data: find the next marker
            if pos < 0:
                return
            continue
        marker = data[pos + 1]
        if marker == 0xD9:  # end of image
            return
        if marker in (0x00, 0xFF) or 0xD0 <= marker <= 0xD7:  # stuffed byte, fill byte, restart marker
            pos += 1 if marker == 0xFF else 2
            continue
        yield marker, pos
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")


def _jpeg_scans(data: bytes) -> int:
    """Start-of-scan markers in a JPEG stream."""
    return sum(1 for marker, _ in _jpeg_segments(data) if marker == 0xDA)


_MAGIC = (b"\x89PNG", b"\xff\xd8", b"BM")  # PNG, JPEG, BMP; WEBP is RIFF....WEBP


def _open(src, max_pixels: int, draft_side: int | None = None):
    """Open, check format and size from the header, then decode (a JPEG at the smallest DCT scale whose shorter
    side is still ``draft_side``, when given). Raises ImageDecodeError (or a subclass)."""
    from PIL import Image

    try:
        data = bytes(src) if isinstance(src, (bytes, bytearray, memoryview)) else Path(src).read_bytes()
    except OSError as e:
        raise ImageDecodeError(f"cannot read file ({e.strerror or e})") from None
    try:
        img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except Image.UnidentifiedImageError:
        if any(data.startswith(m) for m in _MAGIC) or data[8:12] == b"WEBP":
            raise ImageDecodeError("corrupt or truncated image") from None
        raise UnsupportedImageFormat(f"not a {', '.join(IMAGE_FORMATS)} image") from None
    except Image.DecompressionBombError:  # past twice Pillow's own limit: refused inside open()
        raise ImageTooLarge(f"more pixels than Pillow opens, over the limit of {max_pixels:,}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageDecodeError(_reason(e)) from None
    if img.width * img.height > max_pixels:
        raise ImageTooLarge(f"{img.width} x {img.height} pixels is over the limit of {max_pixels:,}")
    if img.format == "JPEG":
        if _jpeg_scans(data) > MAX_JPEG_SCANS:
            raise ImageTooLarge(f"the JPEG has more than {MAX_JPEG_SCANS} scans")
        if draft_side:
            scale = draft_side / min(img.width, img.height)
            img.draft(img.mode, (math.ceil(img.width * scale), math.ceil(img.height * scale)))
    try:
        img.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageDecodeError(_reason(e)) from None
    return img


def _reason(e: Exception) -> str:
    text = str(e) or type(e).__name__
    if "truncated" in text.lower():
        return "truncated image"
    if "cannot identify image file" in text:
        return "not a recognised image format"
    return text


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame segment (it comes before the first scan); None if not found."""
    for marker, pos in _jpeg_segments(data):
        if marker == 0xDA:  # a scan before any frame header: not a JPEG that can be sized cheaply
            return None
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and pos + 9 <= len(data):  # SOFn
            return int.from_bytes(data[pos + 7 : pos + 9], "big"), int.from_bytes(data[pos + 5 : pos + 7], "big")
    return None


def pixels_in_header(data: bytes) -> int | None:
    """width x height as the header of an image in ``data`` declares it (nothing decoded), or None when unreadable.

    PNG and JPEG headers are read directly (a few microseconds: this runs on the server's event loop for
    every small upload); other formats through Pillow's header parser.
    """
    from PIL import Image

    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big") * int.from_bytes(data[20:24], "big")
    if data.startswith(b"\xff\xd8"):
        size = _jpeg_size(data)
        if size is not None:
            return size[0] * size[1]
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as img:
            return img.width * img.height
    except Exception:  # any parse failure: the caller decodes it the careful way and reports the reason
        return None


def peek(path: str | os.PathLike) -> tuple[int, int, bool]:
    """Read only the header: (width, height, is_grayscale). Raises ImageDecodeError."""
    from PIL import Image

    try:
        with Image.open(path, formats=IMAGE_FORMATS) as img:
            return img.width, img.height, img.mode in _GRAY_MODES
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageDecodeError(_reason(e)) from None


def load_image(src, prep: ImagePreprocess, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode a file path, bytes or PIL image into uint8 (size, size, channels).

    Args:
        max_pixels: width x height allowed, read from the header before anything is decoded.

    Raises:
        ImageDecodeError: the input is not a decodable image; UnsupportedImageFormat when it is not
            one of IMAGE_FORMATS, ImageTooLarge when its header declares more than ``max_pixels``.
    """
    from PIL import Image

    img = src if isinstance(src, Image.Image) else _open(src, max_pixels, prep.size if prep.fit == "crop" else None)
    img = _upright(img)
    mode = "L" if prep.channels == 1 else "RGB"
    if img.mode != mode:
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            # Composite transparent pixels on white, as viewers show them, rather than on black.
            img = img.convert("RGBA")
            background = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, img)
        elif img.mode.startswith("I;16") or img.mode == "I":
            img = img.point(lambda v: v / 256).convert("L")  # 16-bit: keep the top 8 bits, not a clipped bottom
        img = img.convert(mode)
    filt = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}[prep.resample]
    if prep.fit == "crop":
        img = _cover_and_crop(img, prep.size, filt)
    elif img.size != (prep.size, prep.size):
        img = img.resize((prep.size, prep.size), filt)
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr)


ORIENTATION = 0x0112  # the EXIF tag; values 5 to 8 turn the picture a quarter


def _upright(img):
    """The image as it is meant to be seen: its EXIF orientation applied (phone photos are stored sideways)."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(img) if img.getexif().get(ORIENTATION, 1) != 1 else img
    except (OSError, ValueError, SyntaxError):  # a broken EXIF block: the pixels as stored
        return img


def region_seen(src, fit: str) -> list[int] | None:
    """[left, top, right, bottom] of the picture in ``src`` (a path or bytes) that load_image turns into the model's
    input, in the picture's own pixels as it is meant to be seen: all of it ("squash"), or its centre square
    ("crop", as _cover_and_crop takes it). None when ``src`` is not a picture lamina reads."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(src) if isinstance(src, bytes) else src, formats=IMAGE_FORMATS) as img:
            w, h = img.size
            if img.getexif().get(ORIENTATION, 1) in (5, 6, 7, 8):
                w, h = h, w
    except (OSError, SyntaxError, ValueError):
        return None
    if fit != "crop":
        return [0, 0, w, h]
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return [left, top, left + side, top + side]


def _cover_and_crop(img, size: int, filt):
    """Shorter side resized to ``size``, then the centre ``size`` x ``size`` square."""
    w, h = img.size
    scale = size / min(w, h)
    rw, rh = max(size, round(w * scale)), max(size, round(h * scale))
    if (rw, rh) != (w, h):
        img = img.resize((rw, rh), filt)
    left, top = (rw - size) // 2, (rh - size) // 2
    return img.crop((left, top, left + size, top + size))


def image_preview(x: np.ndarray, side: int = 64) -> str:
    """An <img> tag holding a PNG of one (C, H, W) uint8 image, scaled up to ``side`` px."""
    from PIL import Image

    arr = x[0] if x.shape[0] == 1 else np.transpose(x, (1, 2, 0))
    img = Image.fromarray(np.ascontiguousarray(arr))
    scale = max(1, side // max(img.size))
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return f'<img alt="sample" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'
