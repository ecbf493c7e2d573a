"""A photo-like development set made offline: Noto Color Emoji glyphs labelled by their Unicode group.

Colour images on transparent backgrounds, 9 groups (Smileys & Emotion, Animals & Nature, Flags, ...),
about 3,600 glyphs: Debian's fonts-noto-color-emoji draws them, unicode-data's emoji-test.txt
groups them. ``per_class`` keeps a seeded few-shot subset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina.common.errors import LaminaError

FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")
SIZE = 109  # the only size the font's colour bitmaps come in
SKIP_GROUPS = ("Component",)  # skin tones and hair styles alone: not things


def read_emoji_groups(path: Path = EMOJI_TEST) -> dict[str, list[str]]:
    """Group name -> fully-qualified emoji sequences, in file order."""
    groups: dict[str, list[str]] = {}
    group = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif group and "; fully-qualified" in line and group not in SKIP_GROUPS:
            codes = line.split(";", 1)[0].split()
            groups.setdefault(group, []).append("".join(chr(int(c, 16)) for c in codes))
    return groups


def _slug(group: str) -> str:
    return group.lower().replace(" & ", "-and-").replace(" ", "-")


def make_emoji(output: Path, seed: int = 0, overwrite: bool = False, per_class: int | None = None) -> dict:
    """Render every fully-qualified emoji (or ``per_class`` of each group, seeded) into ``output/<group>/NNNN.png``."""
    from PIL import Image, ImageDraw, ImageFont

    from lamina.datasets.makers import _prepare_output

    for need, package in ((FONT, "fonts-noto-color-emoji"), (EMOJI_TEST, "unicode-data")):
        if not need.is_file():
            raise LaminaError(f"emoji: {need} is missing; install the Debian package: apt-get install {package}")
    _prepare_output(output, overwrite)
    font = ImageFont.truetype(str(FONT), SIZE)
    rng = np.random.default_rng(seed)
    counts = {}
    for group, items in read_emoji_groups().items():
        if per_class is not None:
            items = [items[i] for i in sorted(rng.choice(len(items), min(per_class, len(items)), replace=False))]
        folder = output / _slug(group)
        folder.mkdir(parents=True, exist_ok=True)
        n = 0
        for text in items:
            canvas = Image.new("RGBA", (136, 128), (0, 0, 0, 0))
            ImageDraw.Draw(canvas).text((0, 0), text, font=font, embedded_color=True)
            box = canvas.getbbox()
            if box is None:
                continue  # a sequence the font does not draw
            canvas.crop(box).save(folder / f"{n:04d}.png")
            n += 1
        counts[_slug(group)] = n
    return {"dataset": "emoji", "output": str(output), "counts": counts, "labels": sorted(counts)}
