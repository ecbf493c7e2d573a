"""A user's own large images: past the default pixel limit training stops with lamina's own message (naming the
file and data.max_image_pixels, exit 2, no Pillow warning); with the limit raised they train, even past the size
Pillow refuses by itself."""

from __future__ import annotations

import shutil
import warnings

import pytest
from PIL import Image

from helpers import run_cli
from lamina.data.image import ImagePreprocess, load_image
from lamina.data.image_file import ImageTooLarge


def _big_png(path, width: int, height: int):
    """A 1-bit PNG: ``width`` x ``height`` pixels in a few kilobytes (one stroke across it)."""
    img = Image.new("1", (width, height), 0)
    img.paste(1, (width // 3, 0, width // 3 + width // 10, height))
    img.save(path, optimize=True)
    return path


def test_training_past_the_default_limit_says_how_to_raise_it(digits, tmp_path):
    data = tmp_path / "digits"
    shutil.copytree(digits, data)
    big = _big_png(data / "train" / "1" / "poster.png", 10_000, 9_000)  # 90,000,000 pixels: over 89,478,485
    r = run_cli("train", data, "--output", tmp_path / "run", "--set", "train.epochs=1")
    assert r.returncode == 2
    assert str(big) in r.stderr and "data.max_image_pixels" in r.stderr and "10000 x 9000" in r.stderr
    assert "DecompressionBomb" not in r.stderr  # lamina's message is the only one
    r = run_cli(
        "train",
        data,
        "--output",
        tmp_path / "run",
        "--set",
        "train.epochs=1",
        "--set",
        "data.max_image_pixels=100000000",
    )
    assert r.returncode == 0, r.stderr
    assert "DecompressionBomb" not in r.stderr
    assert "max_image_pixels: 100000000" in (tmp_path / "run" / "config.yaml").read_text()


def test_an_image_past_pillows_own_refusal_decodes_when_allowed(tmp_path):
    big = _big_png(tmp_path / "huge.png", 13_400, 13_400)  # 179,560,000 pixels: Pillow refuses past 178,956,970
    prep = ImagePreprocess(16, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning from Pillow would fail the test
        with pytest.raises(ImageTooLarge, match="13400 x 13400"):
            load_image(big, prep)
        with pytest.raises(ImageTooLarge, match="data.max_image_pixels"):
            prep.decode(big.read_bytes())
        pixels = ImagePreprocess(16, 1, max_pixels=200_000_000).decode(big.read_bytes())
    assert pixels.shape == (16, 16, 1) and pixels[:, 5:7].mean() > 100 > pixels[:, 12:].mean()
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's limit is back for everyone else
