"""What a table column holds, read from its cells: numbers, categories, identifiers or free text.

A text model learns from words; a column of a few repeated values (a contract type, yes/no) or of numbers gives
it nothing to read, and training on one gives a model that predicts the majority class. So a table's text column
must be free text, and every other column is named as ignored (lamina.data.text). The kinds are read from the
first ``SAMPLE_ROWS`` rows:

- ``number``: at least 95% of the cells are finite numbers;
- ``category``: few distinct values (at most half as many as cells), short ones (40 characters on average);
- ``image`` / ``audio``: at least 95% of the cells are file names with an image (audio) extension, paths relative to
  the table (lamina.data.table_files checks that each file is there);
- ``identifier``: every cell distinct, one word, most with a digit ('7590-VHVEG', a UUID, a SKU);
- ``text``: anything else;
- ``empty``: no cell has a value.
"""

from __future__ import annotations

from dataclasses import dataclass

from lamina.common.listing import shorten
from lamina.data.audio import AUDIO_EXTENSIONS
from lamina.data.image import IMAGE_EXTENSIONS
from lamina.data.task import cell_text, number

SAMPLE_ROWS = 5000  # rows whose cells decide a column's kind
NUMBER_SHARE = 0.95  # share of numeric cells that makes a column numbers
CATEGORY_DISTINCT_SHARE = 0.5  # at most this many distinct values per cell ...
CATEGORY_MEAN_CHARS = 40  # ... of at most this mean length: categories
IDENTIFIER_MIN_CELLS = 20  # fewer cells cannot tell identifiers from single words
IDENTIFIER_DIGIT_SHARE = 0.9  # share of one-word cells with a digit that makes unique cells identifiers
FILE_SHARE = 0.95  # share of cells naming files of one kind that makes a column of image or audio paths
FILE_KINDS = {"image": tuple(IMAGE_EXTENSIONS), "audio": tuple(AUDIO_EXTENSIONS)}


@dataclass(frozen=True)
class ColumnFacts:
    """One column's kind and the figures that decided it."""

    name: str
    kind: str  # number | category | image | audio | identifier | text | empty
    cells: int  # cells with a value, of the rows read
    distinct: int  # distinct values among them
    examples: tuple[str, ...]  # the first few distinct values

    @property
    def is_text(self) -> bool:
        return self.kind == "text"

    def describe(self) -> str:
        """'categories (3 distinct values in 2,000 rows, e.g. 'One year', 'Two year')'."""
        noun = {
            "number": "numbers",
            "category": "categories",
            "identifier": "identifiers",
            "text": "free text",
            "image": "image files",
            "audio": "audio files",
        }
        if self.kind == "empty":
            return "no values"
        shown = ", ".join(repr(shorten(e, 40)) for e in self.examples)
        return f"{noun[self.kind]} ({self.distinct:,} distinct values in {self.cells:,} rows, e.g. {shown})"


def column_facts(name: str, values: list) -> ColumnFacts:
    """The kind of a column from its raw cells (strings, or JSON/Parquet values)."""
    cells = [c for c in (str(v) if isinstance(v, bool) else cell_text(v) for v in values) if c]
    distinct = list(dict.fromkeys(cells))
    facts = lambda kind: ColumnFacts(name, kind, len(cells), len(distinct), tuple(distinct[:3]))  # noqa: E731
    if not cells:
        return facts("empty")
    if sum(number(c) is not None for c in cells) >= NUMBER_SHARE * len(cells):
        return facts("number")
    for kind, extensions in FILE_KINDS.items():
        if sum(_names_file(c, extensions) for c in cells) >= FILE_SHARE * len(cells):
            return facts(kind)
    mean_chars = sum(map(len, distinct)) / len(distinct)
    if len(distinct) <= CATEGORY_DISTINCT_SHARE * len(cells) and mean_chars <= CATEGORY_MEAN_CHARS:
        return facts("category")
    if _identifiers(cells, distinct):
        return facts("identifier")
    return facts("text")


def _names_file(cell: str, extensions: tuple[str, ...]) -> bool:
    """A cell that reads as one file's path with one of ``extensions`` (case aside)."""
    return "\n" not in cell and len(cell) <= 1024 and cell.lower().endswith(extensions)


def _identifiers(cells: list[str], distinct: list[str]) -> bool:
    if len(cells) < IDENTIFIER_MIN_CELLS or len(distinct) < len(cells):
        return False
    if any(any(ch.isspace() for ch in c) for c in cells):
        return False
    return sum(any(ch.isdigit() for ch in c) for c in cells) >= IDENTIFIER_DIGIT_SHARE * len(cells)


def table_facts(columns: list[str], records: list[tuple[int, dict]]) -> dict[str, ColumnFacts]:
    """Every column's facts, from the first SAMPLE_ROWS records ((row number, {column: value}))."""
    head = [rec for _, rec in records[:SAMPLE_ROWS]]
    return {c: column_facts(c, [rec.get(c) for rec in head]) for c in columns}
