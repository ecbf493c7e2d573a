"""image_fit: pad keeps all of a picture far from square: its longer side to the model's size, centred on a square
of its own edge colour; crop keeps only the middle."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from lamina.data.image import ImagePreprocess, load_image, region_seen


def _banner() -> bytes:
    """300 x 100 white banner, a red square at its left end, a blue one at its right."""
    img = Image.new("RGB", (300, 100), (255, 255, 255))
    img.paste((255, 0, 0), (10, 30, 50, 70))
    img.paste((0, 0, 255), (250, 30, 290, 70))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _has(arr: np.ndarray, colour) -> bool:
    return bool((np.abs(arr.astype(int) - colour).sum(-1) < 60).any())


def test_pad_keeps_both_ends_that_crop_cuts_off():
    banner = _banner()
    padded = load_image(banner, ImagePreprocess(60, 3, fit="pad"))
    cropped = load_image(banner, ImagePreprocess(60, 3, fit="crop"))
    assert padded.shape == cropped.shape == (60, 60, 3)
    assert _has(padded, (255, 0, 0)) and _has(padded, (0, 0, 255))
    assert not _has(cropped, (255, 0, 0)) and not _has(cropped, (0, 0, 255))
    # the banner is 20 px high at 60 px wide: the rows above and below are the edge colour, white
    assert (padded[:15] == 255).all() and (padded[-15:] == 255).all()
    assert region_seen(banner, "pad") == [0, 0, 300, 100] and region_seen(banner, "crop") == [100, 0, 200, 100]


def test_pad_fills_with_the_edge_colour_of_a_photo_and_leaves_a_square_alone():
    dark = Image.new("L", (40, 80), 30)
    buf = io.BytesIO()
    dark.save(buf, "PNG")
    padded = load_image(buf.getvalue(), ImagePreprocess(20, 1, fit="pad"))
    assert padded.shape == (20, 20, 1) and (padded == 30).all()
    square = Image.new("L", (50, 50), 200)
    square.paste(0, (0, 0, 10, 10))
    buf = io.BytesIO()
    square.save(buf, "PNG")
    assert np.array_equal(
        load_image(buf.getvalue(), ImagePreprocess(25, 1, fit="pad")),
        load_image(buf.getvalue(), ImagePreprocess(25, 1, fit="squash")),
    )
