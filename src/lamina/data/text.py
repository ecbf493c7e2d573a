"""Labeled text tables: CSV, TSV, JSONL and Parquet, with the text and label columns inferred.

The text modality reads its tables here (lamina.data.text_splits); batch scoring reads tables of texts or
paths through the same format readers. A row that cannot be used is an error naming the file and the
row (1-based, as an editor shows it; the CSV header is row 1), or, with skip_bad, an
entry in the skipped list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lamina.data.split import SPLIT_ALIASES, canonical_split
from lamina.data.table_rows import TABLE_SUFFIXES, table_columns, table_records
from lamina.common.errors import DataError
from lamina.common.listing import names
from lamina.data.column_kinds import table_facts
from lamina.data.task import TASK_KINDS, cell_text, detect

TEXT_SUFFIXES = TABLE_SUFFIXES
TEXT_NAMES = ("text", "sentence", "body", "content", "review", "document", "comment", "quote", "message", "title")
LABEL_NAMES = (
    "label",
    "labels",
    "class",
    "category",
    "tags",
    "target",
    "value",
    "score",
    "rating",
    "y",
    "stars",
    "sentiment",
    "topic",
    "intent",
)
SPLIT_NAMES = ("split",)


def named_label(columns: list[str]) -> str | None:
    """The column named like a label (LABEL_NAMES, in that order of preference, any case), or None."""
    lower = {c.lower(): c for c in columns}
    return next((lower[n] for n in LABEL_NAMES if n in lower), None)


@dataclass
class TextTable:
    path: str
    text_column: str
    label_column: str
    split_column: str | None
    task: str = "classification"  # what the label cells are (lamina.data.task)
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    splits: list[str | None] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # the file row of each kept record
    skipped: list[dict] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # the columns the model does not read


def read_records(path: str | Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """(column names, [(row number, {column: value})]) from a CSV/TSV/JSONL/Parquet file (lamina.data.table_rows).

    Raises:
        DataError: an unreadable or malformed file, or a CSV without even a header, named by file and row.
    """
    path = Path(path)
    records = list(table_records(path))
    if path.suffix.lower() == ".jsonl":
        columns = list(dict.fromkeys(key for _, record in records for key in record))
    else:
        columns = table_columns(path)
    if not columns and path.suffix.lower() in (".csv", ".tsv"):
        raise DataError(f"{path}: the file is empty")
    return columns, records


def infer_columns(
    path: Path, columns: list[str], records: list[tuple[int, dict]], text_column: str | None, label_column: str | None
) -> tuple[str, str]:
    """The text and label columns: as given, else by name, else by content.

    By content: the label is the column with the fewest distinct values (at most half the
    rows); the text is the column of free text (lamina.data.column_kinds) with the longest
    mean length. The text column, however chosen, must hold free text.

    Raises:
        DataError: an unknown column; no column of free text; a text column of numbers, categories or identifiers.
    """
    for given, what in ((text_column, "text"), (label_column, "label")):
        if given is not None and given not in columns:
            from lamina.common.errors import did_you_mean

            raise DataError(
                f"{path}: no {what} column '{given}'{did_you_mean(given, columns)}; columns: {', '.join(columns)}"
            )
    facts = table_facts(columns, records)
    lower = {c.lower(): c for c in columns}
    label = label_column or named_label(columns)
    text = text_column or next((lower[n] for n in TEXT_NAMES if n in lower and lower[n] != label), None)
    sample = [rec for _, rec in records[:2000]]
    if label is None:
        distinct = {c: len({str(r.get(c)) for r in sample}) for c in columns if c != text}
        fitting = [c for c, k in distinct.items() if 1 < k <= max(2, len(sample) // 2)]
        if fitting:
            label = min(fitting, key=lambda c: distinct[c])
    if text is None:
        lengths = {
            c: sum(len(r[c]) for r in sample if isinstance(r.get(c), str)) / max(1, len(sample))
            for c in columns
            if c != label and facts[c].is_text
        }
        if lengths and max(lengths.values()) > 0:
            text = max(lengths, key=lengths.get)
        elif label is not None:
            raise DataError(f"{path}: no column holds free text; {_kinds(facts, label)}. {NOT_TEXT_HINT}")
    if text is None or label is None:
        raise DataError(
            f"{path}: cannot tell which column holds the {'text' if text is None else 'label'} "
            f"(columns: {', '.join(columns)}); set data.text_column and data.label_column"
        )
    if not facts[text].is_text:
        raise DataError(
            f"{path}: column '{text}' is not free text: it holds {facts[text].describe()}. {NOT_TEXT_HINT} "
            f"({_kinds(facts, label)})"
        )
    return text, label


# what to do with a table that has no column of free text
NOT_TEXT_HINT = (
    "A text model reads one column of free text and a label: set data.text_column to a column of free text, or "
    "leave data.modality auto (or set it to table) to train a table model on the numbers and categories"
)


def _kinds(facts: dict, label: str) -> str:
    """'columns: a (number), b (category), ... and 12 more' for an error message, the label left out."""
    return "columns: " + names([f"{c} ({f.kind})" for c, f in facts.items() if c != label])


def ignored_columns(columns: list[str], used: tuple[str | None, ...]) -> list[str]:
    """The columns of a table that the model does not read."""
    return [c for c in columns if c not in used]


def read_text_table(
    path: str | Path,
    text_column: str | None = None,
    label_column: str | None = None,
    skip_bad: bool = False,
    min_labels: int = 2,
    task: str = "auto",
) -> TextTable:
    """Read and check a labeled text table.

    Args:
        min_labels: fewer distinct labels is an error (2 to train; evaluation data may hold 1).
        task: data.task; 'auto' reads it from the label cells (lamina.data.task.detect). A
            multi-label row may have no label; list cells (JSONL) become 'a; b'.
    Raises:
        DataError: unreadable file, bad encoding, unknown column, or (without skip_bad) a row
            with an empty text or a missing label, naming the row.
    """
    path = Path(path)
    columns, records = read_records(path)
    if not records:
        raise DataError(f"{path}: no rows")
    text_col, label_col = infer_columns(path, columns, records, text_column, label_column)
    split_col = next((c for c in columns if c.lower() in SPLIT_NAMES), None)
    kind = detect([rec.get(label_col) for _, rec in records], task)
    table = TextTable(str(path), text_col, label_col, split_col, kind)
    table.ignored = ignored_columns(columns, (text_col, label_col, split_col))
    for n, rec in records:
        text, label = rec.get(text_col), cell_text(rec.get(label_col))
        problem = None
        if not isinstance(text, str) or not text.strip():
            problem = f"empty text in column '{text_col}'"
        elif label == "" and not TASK_KINDS[kind].empty_label_ok:
            problem = f"missing label in column '{label_col}'"
        if problem:
            if not skip_bad:
                raise DataError(f"{path}: row {n}: {problem}. Fix the row or pass --skip-bad.")
            table.skipped.append({"path": f"{path}:{n}", "reason": problem})
            continue
        split = rec.get(split_col) if split_col else None
        if split_col and split not in SPLIT_ALIASES:
            raise DataError(f"{path}: row {n}: split '{split}' in column '{split_col}'; expected train, val or test")
        table.texts.append(text)
        table.labels.append(label)
        table.splits.append(canonical_split(split) if split else None)
        table.rows.append(n)
    rules = TASK_KINDS[kind]
    distinct = len({x for c in table.labels for x in rules.cell_labels(c)})
    minimum = min(min_labels, rules.min_labels)
    if distinct < minimum:
        raise DataError(
            f"{path}: column '{label_col}' holds {distinct} label(s); a classifier needs at least {minimum}"
        )
    return table
