"""Rows of a CSV or TSV file with the malformed ones named: one rule for text tables and manifests."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator

from lamina.common.errors import DataError


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
