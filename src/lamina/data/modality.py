"""The modality interface: what every layer may ask of a modality (image, audio, text), and the registry of them.

A modality is one class in its own module (lamina.data.image, .audio, .text_data), whose instance holds the
preprocessing it chose for a data set (saved in lamina.json) and whose methods are the modality's whole data path:
reading the splits for training and evaluation, the stored form of a split, decoding bytes under a server's
limits, what a server and its OpenAPI document accept, what a report shows. Its torch side (the network's front
end, a batch as the network takes it, augmentation, the exported graph's input) is its twin in
lamina.models.modality. Nothing outside those modules asks which modality it holds: it asks the object.

A new modality is a class here in MODALITIES, a twin there, and a test run of both through
tests/data/test_modality_contract.py (docs/extending.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from lamina.common.errors import LaminaError
from lamina.data.audio import AudioPreprocess
from lamina.data.image import ImagePreprocess
from lamina.data.layout import Layout, scan
from lamina.data.table_data import TablePreprocess
from lamina.data.text_data import TextPreprocess


@runtime_checkable
class Modality(Protocol):
    """Every modality object. Class-level: ``name``, ``reads_tables``, ``claims_table``, ``prepare``, ``from_dict``."""

    name: ClassVar[str]  # the modality's name in config.yaml (data.modality) and lamina.json
    reads_tables: ClassVar[bool]  # whether its samples are rows of one table (else files in folders or a manifest)
    encoded_once: bool  # a frozen encoder reads part of every input, whichever model is configured (a table's pictures)
    datatype: ClassVar[str]  # the exported graph's input as a v2 datatype ("UINT8") and as numpy's dtype
    dtype: ClassVar[Any]
    graph_input_name: ClassVar[str]
    upload_noun: ClassVar[str]  # what one upload is, for messages ("an image file")
    upload_fields: ClassVar[str]  # what a multipart upload carries its inputs in, for messages ("file field")
    content_noun: ClassVar[str]  # what two duplicate samples share, for messages ("file contents")
    cell: ClassVar[str]  # what a batch-scoring table's cell holds for it: "path" (a file), "text" or "row"
    folder_extensions: ClassVar  # the files batch scoring takes from a folder (none: it scores tables only)
    decode_in_processes: ClassVar[bool]  # whether batch scoring decodes in worker processes (Python-heavy decoding)

    @classmethod
    def claims_table(cls, cfg) -> bool: ...  # whether the table file at data.path holds its samples

    @classmethod
    def prepare(cls, cfg, seed: int, tokenizer_file, layout: Layout | None): ...  # -> lamina.data.prepared.PreparedData

    @classmethod
    def from_dict(cls, d: dict) -> "Modality": ...

    def to_dict(self) -> dict: ...  # the preprocessing lamina.json records
    def input_spec(self) -> dict: ...  # the network's input, as lamina.json records it
    def graph_input(self) -> dict: ...  # the exported graph's input, as lamina.json records it
    def request_inputs(self, graph: dict) -> list[dict]: ...  # the v2 inputs a request may send, the first advertised
    def string_fields(self, values: list[str]) -> list[bytes]: ...  # a multipart form's string fields -> uploads
    def advertised(self, inputs: list[dict]) -> list[dict]: ...  # of request_inputs, those a client should send
    # values per input -> batch; ``root``: the folder a table on disk's file cells are relative to (None: a request)
    def from_named_inputs(self, named: dict[str, list], tokenizer=None, root=None) -> np.ndarray: ...
    def uploads(self, body: bytes) -> list[bytes]: ...  # a /predict body -> the uploads it holds
    def page_form(self) -> dict: ...  # what the try-it page asks for: {"kind": file|text|fields, ...}
    def read_eval(self, path, task, split, recorded, skip_bad, use_cache, tokenizer, columns): ...
    def decode(self, data: bytes, limits=None, tokenizer=None) -> np.ndarray: ...
    def cheap_to_decode(self, blobs: list[bytes], max_bytes: int, max_pixels: int) -> bool: ...
    def out_of_range(self, batch: np.ndarray) -> str | None: ...  # why a well-shaped batch cannot be run, or None
    def parity_noise(self, rng: np.random.Generator) -> np.ndarray: ...
    def preview(self, split, i: int) -> str: ...
    def config_values(self, columns) -> dict: ...
    def tokenizer_in(self, package: Path): ...
    def inputs(self, items: list, tokenizer=None) -> np.ndarray: ...
    def near_duplicate_view(self, rows) -> np.ndarray: ...  # decoded rows the near-duplicate check compares
    def column_groups(self) -> dict[str, list[int]]: ...  # input columns by name (a table's), for their importance


@runtime_checkable
class FileModality(Modality, Protocol):
    """A modality whose samples are files: what lamina.data.file_splits and lamina.data.decode ask besides."""

    row_shape: tuple  # one decoded file, as the cache and the stored form hold it

    @classmethod
    def infer(cls, cfg, train_samples: list) -> "FileModality": ...  # the preprocessing for this data

    def row_cache(self, root: Path): ...  # the decode cache of this preprocessing (lamina.data.cache.RowCache)
    def stored(self, rows): ...  # decoded rows (an array or a view of the cache) -> the split's stored form
    def statistics(self, x) -> tuple[list[float], list[float]]: ...  # the train split's (mean, std), or ([], [])
    def decode_note(self, data: bytes) -> dict | None: ...  # something a user should hear about one file
    def decode_warnings(self, notes: list[dict]) -> list[dict]: ...  # the notes of decode_note as warnings
    def background_noise(self, paths: list[Path], skipped: list) -> np.ndarray | None: ...


# in the order a table file is offered: texts claim a table with a column of free text, tables the rest
MODALITIES: dict[str, type] = {m.name: m for m in (ImagePreprocess, AudioPreprocess, TextPreprocess, TablePreprocess)}


def preprocess_from_meta(meta: dict) -> Modality:
    """The modality object recorded in a package's lamina.json (no torch here: the server uses it)."""
    kind = MODALITIES.get(meta.get("modality"))
    if kind is None:
        raise LaminaError(
            f"modality '{meta.get('modality')}' is not supported by this lamina version (known: {sorted(MODALITIES)})"
        )
    return kind.from_dict(meta["preprocessing"])


def table_modality(cfg) -> type | None:
    """The modality that reads ``cfg.path`` as a table (data.modality, or the first that claims the file), else None."""
    named = MODALITIES.get(cfg.modality)
    if named is not None:
        return named if named.reads_tables else None
    if not cfg.path:
        return None
    return next((m for m in MODALITIES.values() if m.claims_table(cfg)), None)


def modality_of(cfg, layout: Layout | None = None) -> tuple[type, Layout | None]:
    """(the modality class that reads ``cfg.path``, the scan of its files or None for a table). Files say their
    modality by their extensions (lamina.data.layout)."""
    table = table_modality(cfg) if layout is None else None
    if table is not None:
        return table, None
    layout = layout or scan(cfg.path, cfg.skip_bad, cfg.task)
    return MODALITIES[layout.modality], layout
