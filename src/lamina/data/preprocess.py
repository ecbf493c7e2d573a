"""The preprocessing of a modality, rebuilt from a model package's lamina.json (no torch here: the server uses it)."""

from __future__ import annotations

from lamina.common.errors import LaminaError
from lamina.data.audio import AudioPreprocess
from lamina.data.image import ImagePreprocess
from lamina.data.text_data import TextPreprocess

PREPROCESS = {"image": ImagePreprocess, "text": TextPreprocess, "audio": AudioPreprocess}


def preprocess_from_meta(meta: dict) -> ImagePreprocess | TextPreprocess | AudioPreprocess:
    """The preprocessing recorded in a package's lamina.json."""
    kind = PREPROCESS.get(meta.get("modality"))
    if kind is None:
        raise LaminaError(
            f"modality '{meta.get('modality')}' is not supported by this lamina version (known: {sorted(PREPROCESS)})"
        )
    return kind.from_dict(meta["preprocessing"])
