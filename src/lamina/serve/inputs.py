"""What batch scoring reads: a folder of files, a manifest of paths, or a table of texts, streamed one
input at a time in a fixed order, so a job of any size holds one batch, and a resumed or sharded job
sees the same sequence.

An input is (key, file path or text): the key names it in the output (a path relative to the folder or
manifest, or "row N" of a text table, N as an editor shows it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lamina.common.errors import DataError
from lamina.data.table_rows import table_columns, table_records
from lamina.data.text import TEXT_NAMES, TEXT_SUFFIXES


@dataclass(frozen=True)
class Input:
    key: str  # names the input in the output file
    path: str | None = None  # a file to decode (images, audio, .txt texts); a str: cheaper than a Path, 100,000 times
    text: str | None = None  # a text from a table
    data: bytes | None = None  # a file's bytes (a binary column of a Spark or Ray batch)
    error: str | None = None  # why the input cannot be scored, known before reading it (a cell of the wrong type)
    record: dict | None = None  # a table row's cells, for a model whose inputs are rows
    root: str | None = None  # the folder a row's file cells are relative to (the table's)


@dataclass(frozen=True)
class Source:
    """A stream of inputs: ``len()`` counts them (one cheap pass), iteration yields them in a fixed order."""

    path: Path
    kind: str  # "folder" | "manifest" | "table" | "rows"
    modality: str
    column: str | None = None  # manifest: the path column; table: the text column
    extensions: tuple = ()  # folder: the files of the model's kind (its modality's folder_extensions)

    def __iter__(self) -> Iterator[Input]:
        if self.kind == "folder":
            skip = len(os.path.join(str(self.path), ""))
            for f in _walk(self.path, self.extensions):
                yield Input(_one_line(f[skip:].replace(os.sep, "/")), path=f)
            return
        for row, record in table_records(self.path):
            cell = record.get(self.column)
            if self.kind == "rows":
                yield Input(f"row {row}", record=record, root=str(Path(self.path).parent))
            elif self.kind == "manifest":
                yield Input(
                    _one_line(str(cell)) if cell else f"row {row}", path=str(self.path.parent / cell) if cell else None
                )
            else:
                yield Input(f"row {row}", text=cell if isinstance(cell, str) else None)

    def __len__(self) -> int:
        if self.kind == "folder":
            return sum(1 for _ in _walk(self.path, self.extensions))
        return sum(1 for _ in table_records(self.path))


def open_source(path: str | Path, prep, column: str | None = None) -> Source:
    """The inputs at ``path`` for a model whose modality object (ImagePreprocess, ...) is ``prep``.

    Raises:
        DataError: the path does not exist, is a table without the column it needs, or holds no inputs of the model's kind.
    """
    p, modality = Path(path), prep.name
    if p.is_dir():
        if not prep.folder_extensions:
            raise DataError(f"{p}: a {modality} model scores a table, not a folder")
        return Source(p, "folder", modality, extensions=tuple(prep.folder_extensions))
    if not p.is_file():
        raise DataError(f"{p}: no such file or folder")
    if p.suffix.lower() not in TEXT_SUFFIXES:
        raise DataError(
            f"{p}: batch input must be a folder, or a table ({', '.join(TEXT_SUFFIXES)}); use a folder for single files"
        )
    return TABLE_SOURCES[prep.cell](p, table_columns(p), column, modality)


def _manifest(p: Path, columns: list[str], column: str | None, modality: str) -> Source:
    """A table of file paths, in its ``path`` column (or ``column``)."""
    name = column or next((c for c in columns if c.strip().lower() == "path"), None)
    if name not in columns:
        raise DataError(
            f"{p}: a {modality} model scores files: the table needs a 'path' column (columns: {', '.join(columns)})"
        )
    return Source(p, "manifest", modality, name)


def _text_table(p: Path, columns: list[str], column: str | None, modality: str) -> Source:
    """A table of texts, in ``column`` or the column named like texts (or the only one)."""
    if column is not None and column not in columns:
        raise DataError(f"{p}: no column '{column}' (columns: {', '.join(columns)})")
    name = column or next((c for c in columns if c.strip().lower() in TEXT_NAMES), None)
    if name is None and len(columns) == 1:
        name = columns[0]
    if name is None:
        raise DataError(
            f"{p}: which column holds the texts? None is named {', '.join(TEXT_NAMES[:4])}, ...; "
            f"pass --column (columns: {', '.join(columns)})"
        )
    return Source(p, "table", modality, name)


def _rows(p: Path, columns: list[str], column: str | None, modality: str) -> Source:
    """A table whose rows are the inputs (a table model's): every column is read, those it does not know ignored."""
    return Source(p, "rows", modality)


TABLE_SOURCES = {
    "path": _manifest,
    "text": _text_table,
    "row": _rows,
}  # a modality's cell kind -> how a table of them is read


def _one_line(key: str) -> str:
    """Keys stay on one line, so an output file's lines and its rows are the same thing."""
    return key.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def _walk(root: Path | str, extensions) -> Iterator[str]:
    """Paths of the files under ``root`` with one of ``extensions``, depth first, names sorted in each folder; hidden
    ones skipped."""
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as e:
        raise DataError(f"{root}: cannot list ({e.strerror})") from None
    for e in entries:
        if e.name.startswith("."):
            continue
        if e.is_dir(follow_symlinks=False):
            yield from _walk(e.path, extensions)
        elif os.path.splitext(e.name)[1].lower() in extensions:
            yield e.path
