"""From a labeled text table to tensors: split, subword tokenizer, token ids, fingerprint.

A split of N texts is one int32 tensor (N, max_tokens) of token ids, right-padded with 0
(the tokenizer's [PAD]). The tokenizer is trained on the train split only (or is the one a
pretrained encoder brings) and travels with the run and the model package as
tokenizer.json, so evaluation, export and the server tokenize exactly as training did.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from lamina.common.errors import DataError, DecodeError
from lamina.data.checks import fingerprint
from lamina.data.layout import Sample
from lamina.data.text import TEXT_SUFFIXES, read_text_table
from lamina.data.tokenizer import TOKENIZER_FILE, encode, load_tokenizer, train_tokenizer

TOKEN_RANGE = (16, 256)  # inferred max_tokens stays in here
TOKEN_QUANTILE = 95  # percent of training texts that fit the inferred max_tokens without being cut


@dataclass(frozen=True)
class TextPreprocess:
    """Everything that turns a text into the model's input, saved in the model package."""

    max_tokens: int  # ids per text: longer texts are cut, shorter ones padded with 0
    vocab_size: int  # ids are in [0, vocab_size)
    tokenizer: str = TOKENIZER_FILE  # file in the package

    def to_dict(self) -> dict:
        return {"max_tokens": self.max_tokens, "vocab_size": self.vocab_size, "tokenizer": self.tokenizer}

    @classmethod
    def from_dict(cls, d: dict) -> "TextPreprocess":
        return cls(int(d["max_tokens"]), int(d["vocab_size"]), d.get("tokenizer", TOKENIZER_FILE))

    def input_spec(self) -> dict:
        return {"name": "token_ids", "dtype": "int64", "shape": [-1, self.max_tokens], "pad": 0}

    # --- the modality interface: what a serving or scoring process asks (lamina.data.modality) ---------------
    name = "text"
    datatype, dtype = "INT64", np.int64  # the exported graph's input: (N, max_tokens) token ids, 0 = padding
    upload_noun = "a UTF-8 text"
    content_noun = "texts"  # what two duplicate samples share, in messages
    reads_tables = True  # samples are rows of one table
    encoded_once = False  # only a pretrained model's config freezes its encoder
    cell = "text"  # a batch-scoring table holds the texts themselves
    folder_extensions = (".txt",)  # batch scoring reads a folder of UTF-8 .txt files, a text each
    upload_fields = "file field or text field"  # texts come as multipart string fields too
    decode_in_processes = False  # the tokenizer runs in Rust on every core already

    graph_input_name = "token_ids"

    def graph_input(self) -> dict:
        """The exported graph's input, as lamina.json records it. The token axis is dynamic: a server trims a batch's
        common padding (trim_padding) before running it."""
        return {
            "name": self.graph_input_name,
            "dtype": "int64",
            "shape": [-1, self.max_tokens],
            "pad": 0,
            "trim_padding": True,
        }

    def decode(self, data: bytes, limits=None, tokenizer=None) -> np.ndarray:
        """UTF-8 bytes -> int64 token ids (max_tokens,). Raises TextRefused."""
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise TextRefused(f"text is not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})") from None
        return self.encode([text], tokenizer)[0]

    def encode(self, texts: list[str], tokenizer) -> np.ndarray:
        """Texts -> int64 token ids (N, max_tokens), exactly as training tokenized. Raises TextRefused (empty, too long)."""
        for i, t in enumerate(texts):
            if not t.strip():
                raise TextRefused(f"text {i + 1} is empty")
            if len(t) > MAX_TEXT_CHARS:
                raise TextRefused(f"text {i + 1} is longer than {MAX_TEXT_CHARS} characters")
        return tokenize(tokenizer, texts, self.max_tokens).astype(np.int64)

    def cheap_to_decode(self, blobs: list[bytes], max_bytes: int, max_pixels: int) -> bool:
        """Small texts are tokenized on a server's event loop."""
        return sum(map(len, blobs)) <= max_bytes

    def out_of_range(self, batch: np.ndarray) -> str | None:
        """Why a batch of token ids cannot be run (an id outside the vocabulary), or None."""
        if batch.size and (batch.min() < 0 or batch.max() >= self.vocab_size):
            return f"token ids must be in 0..{self.vocab_size - 1}"
        return None

    def parity_noise(self, rng: np.random.Generator) -> np.ndarray:
        """Random token ids of random lengths (padded with 0), for the export's parity check next to real texts."""
        rows = np.zeros((8, self.max_tokens), np.int64)
        for row, n in zip(rows, rng.integers(1, self.max_tokens + 1, 8)):
            row[:n] = rng.integers(1, self.vocab_size, n)
        return rows

    def preview(self, split, i: int) -> str:
        """HTML that shows sample ``i`` of a split in a report: its text."""
        return text_preview(split.texts[i])

    def config_values(self, columns) -> dict:
        """What the run's config.yaml records of this preprocessing and the table's (text, label) columns."""
        return {"max_tokens": self.max_tokens, "text_column": columns[0], "label_column": columns[1]}

    def tokenizer_in(self, package: Path):
        """The tokenizer a model package carries."""
        return load_tokenizer(package, self.tokenizer)

    # --- the data path of a table of texts (lamina.data.text_splits) -------------------------------------------------
    @classmethod
    def claims_table(cls, cfg) -> bool:
        """data.text_column is set, or the table is texts and a label (lamina.data.column_kinds): a table with numbers
        or categories besides is the table modality's, which reads its texts beside them."""
        return cfg.text_column is not None or (
            is_text_table(cfg.path) and texts_and_a_label(cfg.path, cfg.label_column)
        )

    @classmethod
    def prepare(cls, cfg, seed: int, tokenizer_file, layout):
        from lamina.data.text_splits import prepare_texts

        return prepare_texts(cfg, seed, tokenizer_file)

    def read_eval(self, path, task, split, recorded, skip_bad: bool, use_cache: bool, tokenizer, columns):
        from lamina.data.text_splits import eval_texts

        return eval_texts(self, path, task, split, recorded, skip_bad, tokenizer, columns)

    def near_duplicate_view(self, rows) -> np.ndarray:
        return np.zeros((0, 1, 1, 1), np.uint8)  # texts have no picture to compare

    def request_inputs(self, graph: dict) -> list[dict]:
        """Texts (BYTES, one per sample) first, then the graph's token ids (a client that tokenizes itself)."""
        return [{"name": TEXT_INPUT, "datatype": "BYTES", "shape": [-1]}, graph]

    def column_groups(self) -> dict:
        return {}  # one text column

    def advertised(self, inputs: list[dict]) -> list[dict]:
        return inputs[:1]  # the texts

    def from_named_inputs(self, named: dict[str, list], tokenizer=None, root=None) -> np.ndarray:
        """{"text": texts} -> int64 token ids (N, max_tokens). Raises TextRefused."""
        return self.encode(named[TEXT_INPUT], tokenizer)

    def page_form(self) -> dict:
        return {"kind": "text"}  # a text area, sent as text/plain

    def uploads(self, body: bytes) -> list[bytes]:
        return [body]  # one text

    def string_fields(self, values: list[str]) -> list[bytes]:
        return [v.encode("utf-8") for v in values]

    def inputs(self, items: list, tokenizer) -> np.ndarray:
        """What ``Predictor.predict`` takes (texts) -> int32 token ids (N, max_tokens). Raises DataError naming the input."""
        bad = next((i for i, t in enumerate(items) if not isinstance(t, str) or not t.strip()), None)
        if bad is not None:
            raise DataError(f"input {bad + 1}: expected a non-empty text, got {str(items[bad])[:40]!r}")
        return tokenize(tokenizer, list(items), self.max_tokens)


TEXT_INPUT = "text"  # the v2 input of texts

# one text to score: longer ones are refused (the model reads only its first max_tokens anyway)
MAX_TEXT_CHARS = 1 << 20


class TextRefused(DecodeError):
    """A text that is not valid UTF-8, empty or too long; the message is a whole sentence."""

    prefixed = False


def texts_and_a_label(path: str | Path, label: str | None = None) -> bool:
    """Whether a table is a column of free text (or several) and a label: no number or category column besides the
    label (``label``, else the one named like a label, else any one) and a split column (read from its first rows).
    Asked by every step that picks a modality at start-up, so answered once per version of the file."""
    stat = Path(path).stat()
    return _texts_and_a_label(str(path), stat.st_mtime_ns, stat.st_size, label)


@lru_cache(maxsize=16)
def _texts_and_a_label(path: str, mtime_ns: int, size: int, label: str | None) -> bool:
    from itertools import islice

    from lamina.data.column_kinds import SAMPLE_ROWS, table_facts
    from lamina.data.table_rows import table_columns, table_records
    from lamina.data.text import SPLIT_NAMES, named_label

    columns = table_columns(path)
    label = label or named_label(columns)
    rest = [c for c in columns if c != label and c.lower() not in SPLIT_NAMES]
    facts = table_facts(rest, list(islice(table_records(path), SAMPLE_ROWS)))
    features = sum(f.kind in ("number", "category") for f in facts.values())
    return any(f.is_text for f in facts.values()) and features <= (0 if label else 1)


def is_text_table(path: str | Path) -> bool:
    """True for a file that holds texts rather than a manifest of files.

    .tsv, .jsonl and .parquet are always text tables; a .csv is one unless it has a 'path'
    column or its first cell names a file next to it (an image manifest).
    """
    p = Path(path)
    if not p.is_file() or p.suffix.lower() not in TEXT_SUFFIXES:
        return False
    if p.suffix.lower() != ".csv":
        return True
    try:
        head = p.read_bytes()[:65536].decode("utf-8-sig", errors="replace")
    except OSError:
        return False
    import csv
    import io

    rows = list(csv.reader(io.StringIO(head)))[:2]
    if not rows or not rows[0]:
        return False
    if any(c.strip().lower() == "path" for c in rows[0]):
        return False

    def names_file(cell: str) -> bool:
        cell = cell.strip()
        if not cell or "\n" in cell or len(cell) > 1024:
            return False
        try:
            return (p.parent / cell).is_file()
        except (OSError, ValueError):  # too long or otherwise not a path
            return False

    return not any(r and names_file(r[0]) for r in rows)


def text_tokenizer(texts: list[str], vocab_size: int, tokenizer_file: str | Path | None):
    """The tokenizer of a run: loaded from ``tokenizer_file`` (resume, pretrained) or trained on ``texts``."""
    if tokenizer_file is not None:
        return load_tokenizer(Path(tokenizer_file).parent, Path(tokenizer_file).name)
    return train_tokenizer(texts, vocab_size=vocab_size)


def infer_max_tokens(lengths: np.ndarray) -> int:
    """The 95th percentile of the token lengths, rounded up to a multiple of 8, within TOKEN_RANGE."""
    q = int(np.percentile(lengths, TOKEN_QUANTILE)) if len(lengths) else TOKEN_RANGE[0]
    return int(min(TOKEN_RANGE[1], max(TOKEN_RANGE[0], -(-q // 8) * 8)))


def tokenize(tok, texts: list[str], max_tokens: int) -> np.ndarray:
    """(N, max_tokens) int32 ids for ``texts``."""
    ids, _ = encode(tok, texts, max_tokens)
    return ids.astype(np.int32)


def trim_padding(ids: np.ndarray, floor: int = 8) -> np.ndarray:
    """Token ids (N, max_tokens) without the padding columns that every row has (id 0 at the end), keeping at
    least ``floor`` columns: a graph exported with a dynamic token axis then runs over the longest text only."""
    used = np.flatnonzero((ids != 0).any(axis=0))
    width = max(floor, int(used[-1]) + 1 if len(used) else 0)
    return ids[:, :width] if width < ids.shape[1] else ids


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


@dataclass
class TextTableData:
    """A text table read and split: what both training and evaluation start from."""

    path: Path
    kind: str  # "table"
    samples: list[Sample]  # key = "row N"
    texts: dict[str, str]  # key -> text
    skipped: list[dict]
    columns: tuple[str, str]  # (text column, label column)
    task: str = "classification"  # what the label cells are (lamina.data.task)
    ignored: list[str] = field(default_factory=list)  # the table's columns the model does not read

    @property
    def has_splits(self) -> bool:
        return any(s.split is not None for s in self.samples)


def read_table_samples(
    path: str | Path,
    text_column: str | None,
    label_column: str | None,
    skip_bad: bool,
    min_labels: int = 2,
    task: str = "auto",
) -> TextTableData:
    """Read a text table into samples keyed by row ("row 12"). Raises DataError naming the row."""
    table = read_text_table(path, text_column, label_column, skip_bad, min_labels, task)
    p = Path(path)
    samples, texts = [], {}
    for text, label, split, row in zip(table.texts, table.labels, table.splits, table.rows):
        key = f"row {row}"
        samples.append(Sample(p, label, split, key))
        texts[key] = text
    splits = {s.split for s in samples}
    if None in splits and len(splits) > 1:
        raise DataError(
            f"{p}: some rows have a value in column '{table.split_column}' and some do not. Give every row a split, or none."
        )
    if splits and None not in splits and "train" not in splits:
        raise DataError(f"{p}: rows have splits {sorted(splits)} but none is 'train'.")
    return TextTableData(
        p,
        "table",
        samples,
        texts,
        list(table.skipped),
        (table.text_column, table.label_column),
        table.task,
        list(table.ignored),
    )


def text_fingerprint(samples: list[Sample], texts: dict[str, str], assignment: dict[str, str]) -> tuple[str, list[str]]:
    """(sha256 over (split, label, text hash) of every row, the per-row text hashes)."""
    hashes = [_hash(texts[s.key]) for s in samples]
    return fingerprint((assignment[s.key], s.label, h) for s, h in zip(samples, hashes)), hashes


def text_preview(text: str, limit: int = 280) -> str:
    """The text (cut at ``limit`` characters), HTML-escaped, as a block the report can show."""
    cut = text if len(text) <= limit else text[:limit].rstrip() + " ..."
    return f'<blockquote class="text">{html.escape(cut)}</blockquote>'
