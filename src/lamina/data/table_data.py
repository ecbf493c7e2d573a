"""Tables of many columns: the ``table`` modality's preprocessing, what a row becomes, and what a server accepts.

A row of numbers, categories, free text and pictures becomes one float32 vector (``columns``): a number column its
value (NaN when missing), a category column the index of its value in the vocabulary the train split saw (0: missing
or unseen), a free-text column the hashed ids of its words and word pairs (lamina.data.hashed_text), an image
or audio column the file's pixels or samples (lamina.data.table_files).
The network's first layer scales the numbers and flags the missing ones (lamina.models.tabular), so the exported
graph takes rows as a server reads them. No torch here: the server uses it.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from lamina.common.errors import DataError, DecodeError
from lamina.data.column_kinds import column_facts
from lamina.data.hashed_text import term_ids
from lamina.data.table_files import DECODERS, MAX_FILE_BYTES, CellRefused, file_cell, file_noise, out_of_range

# what a table model reads of a column (data.columns: also "ignore")
FEATURE_KINDS = ("number", "category", "text", *DECODERS)
MAX_ROW_BYTES = 1 << 20  # one JSON row to score
PAGE_CHOICES = 200  # the page suggests up to this many of a category column's values


class RowRefused(DecodeError):
    """A row that is not a JSON object of the model's columns; the message is a whole sentence."""

    prefixed = False


@dataclass(frozen=True)
class TablePreprocess:
    """Everything that turns a table row into the model's input, saved in the model package."""

    # one per feature column, in input order: {"name", "kind": number|category|text, "median", "scale"} for numbers,
    # {"name", "kind", "values": [the train split's values, most frequent first], "open" when more were left out} for
    # categories, {"name", "kind", "width": term slots, "buckets"} for free text (term ids: lamina.data.hashed_text),
    # {"name", "kind", "size", "channels", "fit", "resample", "width"} for pictures, {"name", "kind", "sample_rate", "duration", "width"} for clips
    # (lamina.data.table_files)
    columns: tuple = ()
    label: str = ""  # the label column
    lookups: dict = field(default_factory=dict, compare=False, repr=False)  # column -> {value: index}, built on use

    def to_dict(self) -> dict:
        return {"columns": [dict(c) for c in self.columns], "label": self.label}

    @classmethod
    def from_dict(cls, d: dict) -> "TablePreprocess":
        return cls(tuple(dict(c) for c in d["columns"]), str(d.get("label", "")))

    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.columns]

    @cached_property  # read for every row: computed once (the dataclass's fields never change)
    def spans(self) -> list[tuple[dict, int, int]]:
        """(column, first position, width) of each column in a row: one position, a text column's ``width``."""
        out, at = [], 0
        for c in self.columns:
            width = int(c.get("width", 1))
            out.append((c, at, width))
            at += width
        return out

    @property
    def encoded_once(self) -> bool:
        """Files in the rows: frozen pretrained encoders read them (lamina.models.file_columns)."""
        return any(c["kind"] in DECODERS for c in self.columns)

    @cached_property
    def width(self) -> int:
        return sum(w for _, _, w in self.spans)

    def input_spec(self) -> dict:
        """The network's input, as lamina.json records it."""
        return {"name": self.graph_input_name, "dtype": "float32", "shape": [-1, self.width]}

    # --- the modality interface (lamina.data.modality) ----------------------------------------------------------------
    name = "table"
    datatype, dtype = "FP32", np.float32  # the exported graph's input: (N, columns) numbers and category indices
    graph_input_name = "columns"
    upload_noun = "a JSON object of column values"
    upload_fields = "JSON object"
    content_noun = "rows"
    reads_tables = True
    cell = "row"  # a batch-scoring table's rows are the inputs themselves
    folder_extensions = ()  # rows come in a table, never a folder of files
    decode_in_processes = False

    @classmethod
    def claims_table(cls, cfg) -> bool:
        """A table file that is not a manifest of files (texts have been offered it first: a table with a column of
        free text is theirs), or a manifest with columns besides its files, label and split: pictures with facts."""
        from lamina.data.text_data import is_text_table  # a table, not a manifest: the rule both modalities share

        return is_text_table(cfg.path) or files_and_columns(cfg.path)

    @classmethod
    def prepare(cls, cfg, seed: int, tokenizer_file, layout):
        from lamina.data.table_splits import prepare_table

        return prepare_table(cfg, seed)

    def read_eval(self, path, task, split, recorded, skip_bad: bool, use_cache: bool, tokenizer, columns):
        from lamina.data.table_splits import eval_table

        return eval_table(self, path, task, split, recorded, skip_bad)

    def graph_input(self) -> dict:
        """The exported graph's input, as lamina.json records it, with the column each position holds."""
        return {**self.input_spec(), "columns": self.names, "widths": [w for _, _, w in self.spans], "missing": "NaN"}

    def request_inputs(self, graph: dict) -> list[dict]:
        """One input per column (FP32 numbers, BYTES categories, texts and base64 files, shape [N]), then the graph's
        rows."""
        per_column = [
            {"name": c["name"], "datatype": "FP32" if c["kind"] == "number" else "BYTES", "shape": [-1]}
            for c in self.columns
        ]
        return per_column + [graph]

    def string_fields(self, values: list[str]) -> list[bytes]:
        return []  # a row comes as one JSON object, not as form fields

    def row(self, record: dict, where: str = "row", strict: bool = True, root: Path | None = None) -> np.ndarray:
        """{column: value} -> float32 (columns,). A null or empty value is missing. With ``strict`` (a request, a
        row to score) every column must be there, a number column's value must be a number (or text of one) and a
        category column's a value training saw: else RowRefused naming the column; with ``strict`` off (training
        and evaluation data, whose columns are at least 95% numbers and whose test rows may hold values the train
        rows never did) such a cell is missing. A file is a path under ``root`` (a table on disk), else the file's
        bytes or base64 text: CellRefused naming the column when it cannot be read."""
        if not isinstance(record, dict):
            raise RowRefused(f"{where}: expected a JSON object of column values, got {type(record).__name__}")
        if strict:
            _refuse_absent(self.names, record, where)
        out = np.empty(self.width, np.float32)
        for c, at, width in self.spans:
            value = record.get(c["name"])
            if c["kind"] == "text":
                out[at : at + width] = term_ids(category_text(value), width, c["buckets"])
            elif c["kind"] in DECODERS:
                out[at : at + width] = file_cell(c, value, where, root)
            else:
                out[at] = _cell_value(c, value, where, self._lookup, strict)
        return out

    def _lookup(self, column: dict) -> dict:
        """{value: 1 + its position} of a category column's vocabulary (0: missing or unseen), built once."""
        table = self.lookups.get(column["name"])
        if table is None:
            table = self.lookups[column["name"]] = {v: i + 1 for i, v in enumerate(column["values"])}
        return table

    def decode(self, data: bytes, limits=None, tokenizer=None) -> np.ndarray:
        """UTF-8 JSON bytes of one object -> float32 (columns,). Raises RowRefused."""
        most = MAX_ROW_BYTES + sum(MAX_FILE_BYTES * 4 // 3 for c in self.columns if c["kind"] in DECODERS)
        if len(data) > most:
            raise RowRefused(f"a row is at most {most:,} bytes of JSON")
        try:
            record = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError) as e:
            raise RowRefused(f"a row must be a JSON object of column values ({str(e)[:80]})") from None
        return self.row(record, "the row")

    def column_groups(self) -> dict[str, list[int]]:
        """Each column's positions in a row, for the report's permutation importance."""
        return {c["name"]: list(range(at, at + width)) for c, at, width in self.spans}

    def advertised(self, inputs: list[dict]) -> list[dict]:
        return inputs[:-1]  # one per column

    def page_form(self) -> dict:
        """A field per column (numbers as number fields, files as file choosers whose file is sent as a data URL),
        sent as one JSON object."""
        fields = [{"name": c["name"], "number": c["kind"] == "number"} for c in self.columns]
        for f, c in zip(fields, self.columns):
            if c["kind"] in DECODERS:
                f["accept"] = f"{c['kind']}/*"
            if c["kind"] == "category":
                f["choices"] = c["values"][:PAGE_CHOICES]
        return {"kind": "fields", "fields": fields}

    def uploads(self, body: bytes) -> list[bytes]:
        """A /predict body: one JSON object, or a JSON list of them (each an upload)."""
        if body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] != b"[":  # a BOM or blanks may lead
            return [body]  # one object: decode parses it (once)
        try:
            doc = json.loads(body.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            return [body]  # decode says what is wrong with it
        return [json.dumps(item).encode() for item in doc] if isinstance(doc, list) and doc else [body]

    def from_named_inputs(self, named: dict[str, list], tokenizer=None, root=None) -> np.ndarray:
        """One list of values per column (an infer request's inputs, a batch-scoring row) -> float32 (N, columns)."""
        return self.rows_from_columns(named, root)

    def rows_from_columns(self, named: dict[str, list], root: Path | None = None) -> np.ndarray:
        """One list of values per column (an infer request's inputs, same length) -> float32 (N, columns); pictures
        are paths under ``root`` (a table on disk) or, without one, the files' base64 text."""
        lengths = {len(v) for v in named.values()}
        if len(lengths) > 1:
            raise RowRefused(f"every column input needs as many values; got lengths {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        records = [{name: values[i] for name, values in named.items()} for i in range(n)]
        rows = [self.row(r, f"row {i + 1}", root=root) for i, r in enumerate(records)]
        return np.stack(rows) if records else self._empty()

    def cheap_to_decode(self, blobs: list[bytes], max_bytes: int, max_pixels: int) -> bool:
        """Small rows without files: a picture's few bytes may declare millions of pixels to decode."""
        return not self.encoded_once and sum(map(len, blobs)) <= max_bytes

    def out_of_range(self, batch: np.ndarray) -> str | None:
        """Why rows cannot be run: a category index that names no value, an infinite number, a text's term id
        that names no bucket."""
        for c, at, width in self.spans:
            col = batch[:, at : at + width]
            if c["kind"] == "category" and not _indices_within(col, len(c["values"])):
                return f"column '{c['name']}' holds category indices 0..{len(c['values'])}"
            if c["kind"] == "number" and np.isinf(col).any():
                return f"column '{c['name']}' holds an infinite number"
            if c["kind"] == "text" and not _indices_within(col, c["buckets"]):
                return f"column '{c['name']}' holds term ids 0..{c['buckets']}"
            if c["kind"] in DECODERS and out_of_range(c, col):
                return out_of_range(c, col)
        return None

    def parity_noise(self, rng: np.random.Generator) -> np.ndarray:
        """Random rows (numbers around the train split's, some missing; any category index; a few words' term ids;
        random files' values, one missing)."""
        out = np.zeros((8, self.width), np.float32)
        for c, at, width in self.spans:
            if c["kind"] == "number":
                out[:, at] = c["median"] + c["scale"] * rng.normal(0, 2, 8)
                out[rng.random(8) < 0.2, at] = np.nan
            elif c["kind"] == "category":
                out[:, at] = rng.integers(0, len(c["values"]) + 1, 8)
            elif c["kind"] in DECODERS:
                out[:, at : at + width] = file_noise(c, rng, 8)
            else:
                words = [" ".join(rng.choice(list("abcdefgh"), 5)) for _ in range(8)]
                out[:, at : at + width] = np.stack([term_ids(w, width, c["buckets"]) for w in words])
        return out

    def preview(self, split, i: int) -> str:
        """HTML that shows row ``i`` of a split in a report: its cells."""
        return f'<blockquote class="text">{html.escape(split.texts[i])}</blockquote>'

    def config_values(self, columns) -> dict:
        """What config.yaml records: the label column and every feature column's kind."""
        return {"label_column": self.label, "columns": {c["name"]: c["kind"] for c in self.columns}}

    def tokenizer_in(self, package: Path) -> None:
        return None

    def inputs(self, items: list, tokenizer=None) -> np.ndarray:
        """What ``Predictor.predict`` takes (dicts of column values, or JSON texts of them; pictures as paths from the
        working directory) -> float32 (N, columns). Raises DataError naming the input."""
        rows = []
        for n, item in enumerate(items, start=1):
            try:
                record = json.loads(item) if isinstance(item, str) else item
                rows.append(self.row(record, f"input {n}", root=Path.cwd()))
            except (RowRefused, CellRefused) as e:  # their message names the input
                raise DataError(str(e)) from None
            except ValueError as e:  # the JSON text of a row
                raise DataError(f"input {n}: a row must be a JSON object of column values ({str(e)[:80]})") from None
        return np.stack(rows) if rows else self._empty()

    def near_duplicate_view(self, rows) -> np.ndarray:
        return np.zeros((0, 1, 1, 1), np.uint8)  # rows have no picture to compare

    def describe(self, record: dict) -> str:
        """A row's feature cells as one line, for reports: 'island=Biscoe, bill_length_mm=39.1' (texts cut)."""
        return ", ".join(f"{c['name']}={str(record.get(c['name']))[:80]}" for c in self.columns)

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.width), np.float32)


def _cell_value(column: dict, value, where: str, lookup, strict: bool) -> float:
    """One cell as the row vector holds it (NaN, or 0 for a category, when missing)."""
    if isinstance(value, (list, dict)):
        raise RowRefused(f"{where}: column '{column['name']}' holds a {type(value).__name__}, not a single value")
    text = category_text(value)
    if column["kind"] == "category":
        return _category_index(column, value, text, where, lookup(column), strict)
    if text == "" or text.lower() in MISSING_WORDS:
        return math.nan
    try:
        number = float(value) if not isinstance(value, str) else float(text)
    except (TypeError, ValueError):
        if not strict:
            return math.nan
        raise RowRefused(f"{where}: column '{column['name']}' holds numbers, got {text[:40]!r}") from None
    if not math.isfinite(number):
        return math.nan
    return number


def _indices_within(col: np.ndarray, most: int) -> bool:
    """Every value a whole number in 0..``most`` (a category's index, a term's id)."""
    return bool(np.all((col >= 0) & (col <= most) & (col == np.floor(col))))


def _refuse_absent(names: list[str], record: dict, where: str) -> None:
    """A request names every column: one it leaves out is refused, not answered as if missing (a misspelt key would
    otherwise pass unseen)."""
    absent = [n for n in names if n not in record]
    if absent:
        shown = ", ".join(f"'{n}'" for n in absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
        noun = "column" if len(absent) == 1 else "columns"
        raise RowRefused(f"{where}: {noun} {shown} not given; send null for a value you do not have")


def _category_index(column: dict, value, text: str, where: str, table: dict, strict: bool) -> float:
    """1 + the value's position in the train vocabulary; 0 when missing or, in data read for training and
    evaluation (or a column with more values than the model keeps), a value the vocabulary lacks. A request's
    unseen value is refused: its answer would be a missing value's, given as if for this one."""
    if not text:
        return 0.0
    for spelling in (text, *_number_spellings(value)):
        if spelling in table:
            return float(table[spelling])
    if not strict or column.get("open"):
        return 0.0
    known = column["values"]
    shown = ", ".join(repr(v) for v in known[:5]) + (", ..." if len(known) > 5 else "")
    raise RowRefused(
        f"{where}: column '{column['name']}' never held {text[:40]!r} in training ({len(known):,} values: {shown}); "
        "send null for a value it does not know"
    )


def _number_spellings(value) -> tuple[str, ...]:
    """A JSON number as a table may have spelt it: 3 as '3.0', 3.0 as '3'."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return ()
    return (str(int(value)), str(float(value))) if float(value).is_integer() else ()


def files_and_columns(path) -> bool:
    """A CSV with a header whose columns are more than a file column, a label and a split ('photo,price,label')."""
    from lamina.data.table_rows import table_columns

    p = Path(path)
    if not p.is_file() or p.suffix.lower() != ".csv":
        return False
    try:
        header = table_columns(p)
    except DataError:
        return False
    if not header or _names_a_file(p.parent, header[0]):  # a manifest without a header
        return False
    return len([h for h in header if h.strip().lower() != "split"]) > 2


def _names_a_file(root: Path, cell: str) -> bool:
    try:
        return bool(cell.strip()) and (root / cell.strip()).is_file()
    except (OSError, ValueError):
        return False


def missing_value(column: dict) -> float:
    """What a row holds for a cell without a value: NaN for a number or a file, 0 for a category or a text."""
    return math.nan if column["kind"] in ("number", *DECODERS) else 0.0


MISSING_WORDS = ("na", "nan", "null", "none", "?", "-")  # cells that mean "no value" in a number column


def category_text(value) -> str:
    """A cell as the vocabulary holds it: stripped text; a JSON or Parquet boolean as 'true' or 'false'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value).strip()


def kind_of(name: str, values: list) -> str:
    """number, category, identifier, text or empty: what a column holds (lamina.data.column_kinds)."""
    return column_facts(name, values).kind
