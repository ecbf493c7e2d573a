"""Reading an image file safely: the formats lamina opens, its header checked against a pixel limit (and a JPEG's
scans counted) before anything is decoded, Pillow's own warnings silenced so lamina's message is the one a user
reads; decoding a JPEG at the smallest DCT scale that covers the target size. What the pixels then become is
lamina.data.image's."""

from __future__ import annotations

import io
import math
import os
import threading
import warnings
from pathlib import Path

from lamina.common.errors import DecodeError, TooLarge, UnsupportedFormat

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


def open_checked(src, max_pixels: int, draft_side: int | None = None):
    """Open, check format and size from the header, then decode (a JPEG at the smallest DCT scale whose shorter
    side is still ``draft_side``, when given). Raises ImageDecodeError (or a subclass)."""
    Image = pillow()
    try:
        data = bytes(src) if isinstance(src, (bytes, bytearray, memoryview)) else Path(src).read_bytes()
    except OSError as e:
        raise ImageDecodeError(f"cannot read file ({e.strerror or e})") from None
    try:
        img = header(data)
    except Image.UnidentifiedImageError:
        if any(data.startswith(m) for m in _MAGIC) or data[8:12] == b"WEBP":
            raise ImageDecodeError("corrupt or truncated image") from None
        raise UnsupportedImageFormat(f"not a {', '.join(IMAGE_FORMATS)} image") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageDecodeError(_reason(e)) from None
    if img.width * img.height > max_pixels:
        raise ImageTooLarge(f"{img.width} x {img.height} pixels is over the limit of {max_pixels:,}")
    if img.format == "JPEG":
        if _jpeg_scans(data) > MAX_JPEG_SCANS:
            raise ImageTooLarge(f"the JPEG has more than {MAX_JPEG_SCANS} scans")
        if draft_side:  # both sides stay at least draft_side: enough for a crop and for a squash
            scale = draft_side / min(img.width, img.height)
            img.draft(img.mode, (math.ceil(img.width * scale), math.ceil(img.height * scale)))
    try:
        img.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageDecodeError(_reason(e)) from None
    return img


_PILLOW_LIMIT = threading.Lock()  # held while Pillow's own pixel limit is lifted for one header


def pillow():
    """PIL.Image, with Pillow's DecompressionBombWarning silenced: lamina checks every image's pixels from its header
    against its own limit (MAX_IMAGE_PIXELS, data.max_image_pixels, a server's) and says so in its own words. The
    filter is added when it is missing (a caller's warnings.catch_warnings may have taken it away), not on every
    call: decoding threads would race on the filter list."""
    from PIL import Image

    quiet = ("ignore", None, Image.DecompressionBombWarning, None, 0)
    if quiet not in warnings.filters:
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    return Image


def header(source):
    """Image.open of ``source`` (bytes or a path): the header read, nothing decoded. Pillow refuses by itself past
    twice its own limit; a header is read past it (with Pillow's limit lifted for this one header), so lamina's own
    check says how large the picture is and what allows it."""
    Image = pillow()
    opened = lambda: Image.open(io.BytesIO(source) if isinstance(source, bytes) else source, formats=IMAGE_FORMATS)  # noqa: E731
    try:
        return opened()
    except Image.DecompressionBombError:
        pass
    with _PILLOW_LIMIT:
        kept, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return opened()
        finally:
            Image.MAX_IMAGE_PIXELS = kept


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
    Image = pillow()

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
    try:
        with header(path) as img:
            return img.width, img.height, img.mode in _GRAY_MODES
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageDecodeError(_reason(e)) from None
