"""Where batch scoring writes: one row per input, as CSV, JSON lines or Parquet, appended batch by batch
so an interrupted job keeps what it scored and a rerun goes on from there.

CSV and JSONL are written in place, one line per row (keys and messages never hold a line break), and
flushed after every batch; a line cut short by a kill is dropped on resume. Parquet cannot be appended
to, so rows go to ``NAME.partial.jsonl`` beside it and become ``NAME`` when the job completes.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from lamina.common.errors import DataError
from lamina.data.task import TASK_KINDS

FORMATS = (".csv", ".jsonl", ".parquet")
TAIL_BYTES = 1 << 20  # the last row is read back from at most this far before the end


class Sink:
    """Rows for one output file; ``done`` rows were there before this job (its resume point)."""

    def __init__(self, path: Path, task: str):
        self.path = path
        # CSV/Parquet columns; nested answers are JSON text
        self.fields = (
            "input",
            *TASK_KINDS[task].answer_fields,
            "error",
        )
        self.spool = path.with_name(path.name + ".partial.jsonl") if path.suffix.lower() == ".parquet" else path
        self.csv = self.spool.suffix.lower() == ".csv"
        self.done, self.last_key = _complete_rows(self.spool, self.csv)
        self._file = self.spool.open("a", encoding="utf-8", newline="")
        if self.csv and self._file.tell() == 0:  # a new file (one killed after its header keeps that header)
            self._file.write(_csv_line(self.fields))

    def write(self, rows: list[dict]) -> None:
        """Append answers ({"input", answer fields..., "error"}) and flush them to disk."""
        if self.csv:
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows([_flat(r.get(f)) for f in self.fields] for r in rows)
            text = buf.getvalue()
        else:
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        self._file.write(text)
        self._file.flush()

    def close(self, complete: bool) -> None:
        """Close the file; a completed Parquet job turns its spool into the Parquet file."""
        self._file.close()
        if complete and self.spool != self.path:
            _spool_to_parquet(self.spool, self.path, self.fields)
            self.spool.unlink()


def open_sink(path: str | Path, task: str) -> Sink:
    """A sink for ``path`` (.csv, .jsonl or .parquet), resuming a partial one.

    Raises:
        DataError: another format, or a finished Parquet file already there.
    """
    p = Path(path)
    if p.suffix.lower() not in FORMATS:
        raise DataError(f"{p}: --output must end in {', '.join(FORMATS)}")
    if p.suffix.lower() == ".parquet" and p.exists():
        raise DataError(f"{p}: already written by a finished job; remove it or choose another --output")
    if p.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise DataError(
                f"{p}: writing Parquet needs pyarrow: pip install pyarrow (or write .csv / .jsonl)"
            ) from None
    if not p.parent.exists():
        raise DataError(f"{p.parent}: no such folder")
    return Sink(p, _task(task))


def _task(kind: str) -> str:
    return kind if kind in TASK_KINDS else "classification"


def _csv_line(cells) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def _flat(value) -> str:
    """One CSV/Parquet cell: labels joined by '; ', nested answers as JSON text, None as an empty cell."""
    return "" if value is None else _text(value)


def _text(value) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "; ".join(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# answer fields that are numbers (Spark's double); every other field is text, as a CSV cell holds it
NUMBER_FIELDS = ("score", "value")


def answer_columns(task: str) -> list[tuple[str, str]]:
    """(name, "string" | "double") of each answer column of ``task``, then "error": what an engine's row holds."""
    return [
        (f, "double" if f in NUMBER_FIELDS else "string") for f in (*TASK_KINDS[_task(task)].answer_fields, "error")
    ]


def typed_row(row: dict, task: str) -> dict:
    """An answer row as typed cells: numbers as floats (NaN where a row has none), labels and nested answers as the
    CSV's text ("" where a row has none: MLflow's Spark UDF would turn a None among strings into 'None')."""
    return {
        name: (float("nan") if row.get(name) is None else float(row[name]))
        if kind == "double"
        else _flat(row.get(name))
        for name, kind in answer_columns(task)
    }


def _complete_rows(path: Path, is_csv: bool) -> tuple[int, str | None]:
    """(rows already in ``path``, the last one's input key), after cutting off a line a kill left unfinished.
    Reads the file in chunks: a resumed job of millions of rows holds none of them."""
    if not path.exists():
        return 0, None
    lines, size, end = 0, 0, 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            if n := chunk.count(b"\n"):
                lines += n
                end = size + chunk.rfind(b"\n") + 1
            size += len(chunk)
    if end < size:
        with path.open("rb+") as f:
            f.truncate(end)
    if is_csv:
        lines -= 1  # the header
    if lines <= 0:
        return 0, None
    with path.open("rb") as f:
        f.seek(max(0, end - TAIL_BYTES))
        last = f.read().decode("utf-8", errors="replace").splitlines()[-1]
    try:
        key = next(csv.reader([last]))[0] if is_csv else json.loads(last)["input"]
    except (ValueError, KeyError, IndexError, TypeError, StopIteration):
        raise DataError(
            f"{path}: its last row is not one batch scoring writes; remove the file or choose another --output"
        ) from None
    return lines, key


def _spool_to_parquet(spool: Path, path: Path, fields: tuple) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(f, pa.float64() if f in ("score", "value") else pa.string()) for f in fields])
    tmp = path.with_name(path.name + ".tmp")
    with spool.open(encoding="utf-8") as src, pq.ParquetWriter(tmp, schema) as writer:
        chunk = []
        for line in src:
            chunk.append(json.loads(line))
            if len(chunk) == 8192:
                writer.write_batch(_arrow_batch(chunk, fields, schema))
                chunk = []
        if chunk:
            writer.write_batch(_arrow_batch(chunk, fields, schema))
    tmp.replace(path)


def _arrow_batch(rows: list[dict], fields: tuple, schema):
    import pyarrow as pa

    columns = [
        [r.get(f) if f in ("score", "value") else (_flat(r.get(f)) if r.get(f) is not None else None) for r in rows]
        for f in fields
    ]
    return pa.RecordBatch.from_arrays(
        [pa.array(c, type=schema.field(f).type) for c, f in zip(columns, fields)], schema=schema
    )
