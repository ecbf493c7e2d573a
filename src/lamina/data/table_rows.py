"""Rows of a table file, streamed: CSV, TSV, JSONL and Parquet, for training, validation and batch scoring alike.

One reader and one wording for what is wrong with a file: the file and the row (as an editor shows it, the header
of a CSV being row 1), and the fix.
"""

from __future__ import annotations

import codecs
import csv
import json
from pathlib import Path
from typing import Iterator

from lamina.common.errors import DataError

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")


def table_records(path: str | Path, header_only: bool = False) -> Iterator[tuple[int, dict]]:
    """(row, {column: value}) for each non-blank row of a table, read as it is consumed; with ``header_only``, one
    record whose keys are the columns (JSONL: the first object's).

    Raises:
        DataError: an unsupported format, an unreadable file, a row that is not valid UTF-8, JSON, or as wide as the
            header, named by file and row.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{path}: unsupported table format '{suffix}'; use one of {', '.join(TABLE_SUFFIXES)}")
    if suffix == ".parquet":
        yield from _parquet_records(path, header_only)
    elif suffix == ".jsonl":
        yield from _jsonl_records(path, header_only)
    else:
        yield from _csv_records(path, "\t" if suffix == ".tsv" else ",", header_only)


def table_columns(path: str | Path) -> list[str]:
    """The column names of a table (JSONL: the first object's keys); [] for an empty file."""
    for _, record in table_records(path, header_only=True):
        return list(record)
    return []


def csv_rows(reader, path: str | Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) for each row of ``reader`` (a csv.reader over ``path``).

    Raises:
        DataError: a row the csv module cannot read (a cell over its size limit, a NUL byte, ...), named by line.
    """
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise DataError(
                f"{path}: row {reader.line_num}: {e} (a cell holds at most {csv.field_size_limit():,} characters). "
                "Shorten or remove that row."
            ) from None
        yield reader.line_num, row


def text_lines(path: Path, f) -> Iterator[str]:
    """The lines of binary file ``f`` as text, a line that is not UTF-8 named by its row and byte (a leading BOM
    is dropped)."""
    offset = 0
    for n, raw in enumerate(f, start=1):
        start = len(codecs.BOM_UTF8) if n == 1 and raw.startswith(codecs.BOM_UTF8) else 0
        try:
            yield raw[start:].decode("utf-8")
        except UnicodeDecodeError as e:
            at = start + e.start
            raise DataError(
                f"{path}: row {n}: not valid UTF-8 (byte 0x{raw[at]:02x} at offset {offset + at}). "
                "Re-save the file as UTF-8."
            ) from None
        offset += len(raw)


def _open(path: Path):
    try:
        return path.open("rb")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None


def _csv_records(path: Path, delimiter: str, header_only: bool) -> Iterator[tuple[int, dict]]:
    with _open(path) as f:
        rows = csv_rows(csv.reader(text_lines(path, f), delimiter=delimiter), path)
        header = next(rows, (0, None))[1]
        if header is None:
            return
        if header_only:
            yield 1, dict.fromkeys(header)
            return
        for n, cells in rows:
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise DataError(
                    f"{path}: row {n}: {len(cells)} fields, the header has {len(header)} ({', '.join(header)})"
                )
            yield n, dict(zip(header, cells))


def _jsonl_records(path: Path, header_only: bool) -> Iterator[tuple[int, dict]]:
    with _open(path) as f:
        for n, line in enumerate(text_lines(path, f), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}: row {n}: not valid JSON ({e.msg})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}: row {n}: expected a JSON object, got {type(record).__name__}")
            yield n, record
            if header_only:
                return


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
