"""The server decides from an upload's header whether decoding it may block the event loop: the declared size must be exact."""

import io

import numpy as np
import pytest
import skimage.data
from PIL import Image

from lamina.data.image_file import pixels_in_header


def _encoded(array: np.ndarray, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, fmt, **kw)
    return out.getvalue()


@pytest.mark.parametrize(
    "fmt,kw",
    [
        ("PNG", {}),
        ("JPEG", {}),
        ("JPEG", {"progressive": True}),
        ("JPEG", {"exif": b"Exif\0\0" + b"\0" * 64}),
        ("WEBP", {}),
        ("BMP", {}),
    ],
)
@pytest.mark.parametrize("photo", ["astronaut", "camera"])  # RGB 512x512, gray 512x512
def test_declared_pixels_equal_what_pillow_reads(fmt, kw, photo):
    array = getattr(skimage.data, photo)()[:300, :457]  # width and height differ: a swap would show
    data = _encoded(array, fmt, **kw)
    with Image.open(io.BytesIO(data)) as img:
        assert pixels_in_header(data) == img.width * img.height == 300 * 457


def test_a_bomb_declares_its_size_and_garbage_declares_none():
    png = _encoded(np.zeros((8, 8), np.uint8), "PNG")
    bomb = png[:16] + (60000).to_bytes(4, "big") + (60000).to_bytes(4, "big") + png[24:]  # IHDR says 60000 x 60000
    assert pixels_in_header(bomb) == 60000 * 60000
    assert pixels_in_header(b"\xff\xd8\xff\xe0garbage") is None
    assert pixels_in_header(b"not an image") is None
