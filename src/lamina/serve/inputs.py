"""What batch scoring reads: a folder of files, a manifest of paths, or a table of texts, streamed one
input at a time in a fixed order, so a job of any size holds one batch, and a resumed or sharded job
sees the same sequence.

An input is (key, file path or text): the key names it in the output (a path relative to the folder or
manifest, or "row N" of a text table, N as an editor shows it).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lamina.common.errors import DataError
from lamina.data.csv_rows import csv_rows
from lamina.data.layout import MODALITY_EXTENSIONS
from lamina.data.text import TEXT_NAMES, TEXT_SUFFIXES

FILE_EXTENSIONS = {**MODALITY_EXTENSIONS, "text": (".txt",)}  # a text model scores a folder of .txt files


@dataclass(frozen=True)
class Input:
    key: str  # names the input in the output file
    path: str | None = None  # a file to decode (images, audio, .txt texts); a str: cheaper than a Path, 100,000 times
    text: str | None = None  # a text from a table
    data: bytes | None = None  # a file's bytes (a binary column of a Spark or Ray batch)
    error: str | None = None  # why the input cannot be scored, known before reading it (a cell of the wrong type)


@dataclass(frozen=True)
class Source:
    """A stream of inputs: ``len()`` counts them (one cheap pass), iteration yields them in a fixed order."""

    path: Path
    kind: str  # "folder" | "manifest" | "table"
    modality: str
    column: str | None = None  # manifest: the path column; table: the text column

    def __iter__(self) -> Iterator[Input]:
        if self.kind == "folder":
            skip = len(os.path.join(str(self.path), ""))
            for f in _walk(self.path, FILE_EXTENSIONS[self.modality]):
                yield Input(_one_line(f[skip:].replace(os.sep, "/")), path=f)
            return
        for row, record in _records(self.path):
            cell = record.get(self.column)
            if self.kind == "manifest":
                yield Input(
                    _one_line(str(cell)) if cell else f"row {row}", path=str(self.path.parent / cell) if cell else None
                )
            else:
                yield Input(f"row {row}", text=cell if isinstance(cell, str) else None)

    def __len__(self) -> int:
        if self.kind == "folder":
            return sum(1 for _ in _walk(self.path, FILE_EXTENSIONS[self.modality]))
        return sum(1 for _ in _records(self.path))


def open_source(path: str | Path, prep, column: str | None = None) -> Source:
    """The inputs at ``path`` for a model whose modality object (ImagePreprocess, ...) is ``prep``.

    Raises:
        DataError: the path does not exist, is a table without the column it needs, or holds no inputs of the model's kind.
    """
    p, modality = Path(path), prep.name
    if p.is_dir():
        return Source(p, "folder", modality)
    if not p.is_file():
        raise DataError(f"{p}: no such file or folder")
    if p.suffix.lower() not in TEXT_SUFFIXES:
        raise DataError(
            f"{p}: batch input must be a folder, or a table ({', '.join(TEXT_SUFFIXES)}); use a folder for single files"
        )
    columns = _columns(p)
    if not prep.text_fields:  # a manifest of files
        name = column or next((c for c in columns if c.strip().lower() == "path"), None)
        if name not in columns:
            raise DataError(
                f"{p}: a {modality} model scores files: the table needs a 'path' column (columns: {', '.join(columns)})"
            )
        return Source(p, "manifest", modality, name)
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


def _columns(path: Path) -> list[str]:
    for _, record in _records(path, header_only=True):
        return list(record)
    return []


def _records(path: Path, header_only: bool = False) -> Iterator[tuple[int, dict]]:
    """(row as an editor shows it, {column: value}) streamed from a CSV/TSV/JSONL/Parquet table."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_records(path, header_only)
    elif suffix == ".jsonl":
        yield from _jsonl_records(path, header_only)
    else:
        yield from _csv_records(path, "\t" if suffix == ".tsv" else ",", header_only)


def _csv_records(path: Path, delimiter: str, header_only: bool) -> Iterator[tuple[int, dict]]:
    with _open_text(path) as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            rows = csv_rows(reader, path)
            header = next(rows, (0, None))[1]
            if header is None:
                return
            if header_only:
                yield 1, dict.fromkeys(header)
                return
            for line, cells in rows:
                if any(c.strip() for c in cells):
                    yield line, dict(zip(header, cells))
        except UnicodeDecodeError as e:
            raise DataError(
                f"{path}: row {reader.line_num + 1}: not valid UTF-8 ({e.reason}). Re-save the file as UTF-8."
            ) from None


def _jsonl_records(path: Path, header_only: bool) -> Iterator[tuple[int, dict]]:
    with _open_text(path) as f:
        n = 0
        try:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}: row {n}: not JSON ({e.msg})") from None
                if not isinstance(record, dict):
                    raise DataError(f"{path}: row {n}: not a JSON object")
                yield n, record
                if header_only:
                    return
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: row {n + 1}: not valid UTF-8 ({e.reason}). Re-save the file as UTF-8.") from None


def _parquet_records(path: Path, header_only: bool) -> Iterator[tuple[int, dict]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{path}: reading Parquet needs pyarrow: pip install pyarrow") from None
    try:
        f = pq.ParquetFile(path)
    except Exception as e:
        raise DataError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0][:200]})") from None
    if header_only:
        yield 1, dict.fromkeys(f.schema_arrow.names)
        return
    n = 0
    for batch in f.iter_batches(batch_size=4096):
        for record in batch.to_pylist():
            n += 1
            yield n, record


def _open_text(path: Path):
    try:
        return path.open(encoding="utf-8-sig", newline="")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
