"""What the headers of a set of images say before anything is decoded (the most common side, colour, images per
label), and what follows from it: the inferred input size and channels, and whether the set looks like photos (the
pretrained photo backbone) rather than small drawings."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from lamina.common.config import DataConfig
from lamina.common.errors import DataError
from lamina.data.image import ImagePreprocess
from lamina.data.image_file import MAX_IMAGE_PIXELS, ImageDecodeError, peek
from lamina.data.layout import Layout, Sample, scan
from lamina.data.modality import table_modality
from lamina.data.task import TASK_KINDS

MAX_INFERRED_SIZE = 64  # px: the inferred side is capped here to keep CPU training fast
PEEK_LIMIT = 2000  # files whose headers are read to infer size and channels
FEW_PER_CLASS = 100  # images per label under which a pretrained backbone is chosen for any images of 16 px and more


@dataclass(frozen=True)
class ImageFacts:
    """What the headers of a set of images say, before anything is decoded."""

    side: int  # the most common longer side, pixels
    gray: bool  # every image read is grayscale
    per_class: int = 0  # the median number of images per label

    @property
    def photo_like(self) -> bool:
        """Where a pretrained photo backbone beats a small network trained from scratch (benchmarks/DEFAULTS.md):
        colour images of at least 32 px, any images of 96 px and more, or few images per label (under 100) of at
        least 16 px. Large small-grayscale sets (digits at 8 px, Fashion-MNIST's 6,000 per class) are not."""
        return (self.side >= 32 and (not self.gray or self.side >= 96)) or (
            self.side >= 16 and 0 < self.per_class < FEW_PER_CLASS
        )


def image_facts(samples: list[Sample]) -> ImageFacts:
    """Sides and colour from the headers of up to PEEK_LIMIT of ``samples`` (evenly spread).

    Raises:
        DataError: none of them can be read.
    """
    stride = max(1, len(samples) // PEEK_LIMIT)
    sides: Counter = Counter()
    gray = True
    for s in samples[::stride]:
        try:
            w, h, g = peek(s.path)
        except ImageDecodeError:
            continue  # reported with its reason when decoded
        sides[max(w, h)] += 1
        gray &= g
    if not sides:
        raise DataError(f"{samples[0].path.parent}: none of the images could be read.")
    return ImageFacts(sides.most_common(1)[0][0], gray)


def infer_prep(cfg: DataConfig, samples: list[Sample]) -> ImagePreprocess:
    fit = cfg.image_fit or "squash"
    limit = cfg.max_image_pixels or MAX_IMAGE_PIXELS
    if cfg.image_size and cfg.channels:
        return ImagePreprocess(cfg.image_size, cfg.channels, fit=fit, max_pixels=limit)
    facts = image_facts(samples)
    size = cfg.image_size or min(facts.side, MAX_INFERRED_SIZE)
    channels = cfg.channels or (1 if facts.gray else 3)
    return ImagePreprocess(size, channels, fit=fit, max_pixels=limit)


def scan_images(cfg: DataConfig) -> tuple[Layout, ImageFacts] | None:
    """For image data, the scanned layout and the facts of its headers (to choose a model before decoding); else None."""
    if not cfg.path or table_modality(cfg) is not None or cfg.modality not in ("auto", "image"):
        return None
    layout = scan(cfg.path, cfg.skip_bad, cfg.task)
    if layout.modality != "image":
        return None
    facts = image_facts(layout.samples)
    rules = TASK_KINDS[layout.task]  # regression: no labels to count (the photo rule goes by size and colour alone)
    per_label = sorted(Counter(x for s in layout.samples for x in rules.cell_labels(s.label)).values())
    return layout, ImageFacts(facts.side, facts.gray, per_label[len(per_label) // 2] if per_label else 0)
