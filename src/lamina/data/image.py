"""Image decoding and preprocessing: one implementation, used by training, evaluation,
prediction and (later) serving. numpy + Pillow only, no torch, so a server can import it.

An image becomes uint8 (H, W, C): decoded, turned upright by its EXIF orientation, converted
to L or RGB (transparent pixels on white), then either squashed to a square side ("squash",
small sets trained from scratch) or resized by its shorter side and centre-cropped ("crop",
photos for a pretrained backbone, which keeps their proportions), or resized by its longer side
and centred on a square of its own edge colour ("pad": all of a picture far from square kept,
clip art and product shots whose object is not in the middle). A JPEG is decoded at the
smallest DCT scale that still covers the target size (a phone photo decodes at 1/8 of its
pixels). Pixels are counted from the header before anything is decoded, against lamina's
limit (Pillow's own warnings are silenced: lamina's message is the one a user reads).
Normalisation (mean/std) is not done here: it is the model's first layer, so it travels
inside the exported graph.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lamina.common.errors import DataError
from lamina.data.file_samples import FileSamples
from lamina.data.image_file import (
    MAX_IMAGE_PIXELS,
    ImageDecodeError,
    ImageTooLarge,
    header,
    open_checked,
    pillow,
    pixels_in_header,
)

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})


@dataclass(frozen=True)
class ImagePreprocess(FileSamples):
    """Everything that turns an image file into the model's input, saved in the model package."""

    size: int  # pixels, square side after resizing
    channels: int  # 1 (L) or 3 (RGB)
    resample: str = "bilinear"  # Pillow filter used when the size differs
    # "squash": resize to size x size; "crop": shorter side to size, then the centre square; "pad": longer side to
    # size, the whole picture on a square of its edge colour
    fit: str = "squash"
    # training's limit on a file's width x height (data.max_image_pixels); not the model's: a server has its own
    max_pixels: int = field(default=MAX_IMAGE_PIXELS, compare=False)

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
        if limits is not None:
            return load_image(data, self, limits.max_image_pixels)
        try:
            return load_image(data, self, self.max_pixels)
        except ImageTooLarge as e:
            raise ImageTooLarge(f"{e}; set data.max_image_pixels to read it") from None

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


def load_image(src, prep: ImagePreprocess, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode a file path, bytes or PIL image into uint8 (size, size, channels).

    Args:
        max_pixels: width x height allowed, read from the header before anything is decoded.

    Raises:
        ImageDecodeError: the input is not a decodable image; UnsupportedImageFormat when it is not
            one of IMAGE_FORMATS, ImageTooLarge when its header declares more than ``max_pixels``.
    """
    Image = pillow()

    img = src if isinstance(src, Image.Image) else open_checked(src, max_pixels, prep.size)
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
    elif prep.fit == "pad":
        img = _fit_and_pad(img, prep.size, filt)
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
    input, in the picture's own pixels as it is meant to be seen: all of it ("squash", "pad"), or its centre square
    ("crop", as _cover_and_crop takes it). None when ``src`` is not a picture lamina reads."""
    try:
        with header(src) as img:
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


def _fit_and_pad(img, size: int, filt):
    """Longer side resized to ``size``, the whole picture centred on a ``size`` x ``size`` square filled with the
    mean colour of its own outermost pixels (white around clip art, the scene's edge around a photo)."""
    Image = pillow()
    w, h = img.size
    scale = size / max(w, h)
    rw, rh = max(1, round(w * scale)), max(1, round(h * scale))
    if (rw, rh) != (w, h):
        img = img.resize((rw, rh), filt)
    if (rw, rh) == (size, size):
        return img
    arr = np.asarray(img)
    frame = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]]).reshape(-1, *arr.shape[2:])
    fill = tuple(int(v) for v in np.atleast_1d(frame.mean(0).round()))
    square = Image.new(img.mode, (size, size), fill if len(fill) > 1 else fill[0])
    square.paste(img, ((size - rw) // 2, (size - rh) // 2))
    return square


def image_preview(x: np.ndarray, side: int = 64) -> str:
    """An <img> tag holding a PNG of one (C, H, W) uint8 image, scaled up to ``side`` px."""
    Image = pillow()

    arr = x[0] if x.shape[0] == 1 else np.transpose(x, (1, 2, 0))
    img = Image.fromarray(np.ascontiguousarray(arr))
    scale = max(1, side // max(img.size))
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return f'<img alt="sample" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'
