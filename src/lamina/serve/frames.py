"""What data engines hand lamina and get back: a batch as a pandas DataFrame (or a dict of columns, or a list) of
paths, file bytes or texts, read as batch scoring's inputs; the answers as a DataFrame of typed columns, the ones
``lamina predict --output`` writes. Shared by the MLflow flavor (Spark's ``spark_udf``) and Ray Data's BatchScorer.

Texts for a text model come from the ``text`` column (or the only one); image and audio files from a ``path``
column, or as bytes (or base64 text, as JSON carries them) in a ``file`` column (or the only one). A cell that is no
file gets its reason in ``error``, as an unreadable file does; the batch goes on.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from lamina.serve.inputs import Input
from lamina.serve.outputs import answer_columns, typed_row
from lamina.serve.runtime import InputError, ServedModel

FILE_COLUMNS = ("file", "image", "audio", "data", "bytes")


def frame_inputs(served: ServedModel, data) -> list[Input]:
    """The rows of ``data`` as inputs, keyed by their path, or "row N" (0-based within the batch); what a row's
    cell holds is the modality's ``cell`` (CELL_READERS).

    Raises:
        InputError: no column to read.
    """
    return CELL_READERS[served.prep.cell](data)


def _text_inputs(data) -> list[Input]:
    values = _column(data, ("text",))
    return [Input(f"row {n}", text=v if isinstance(v, str) else None) for n, v in enumerate(values)]


def _file_inputs(data) -> list[Input]:
    names = _names(data)
    if names is not None and "path" in (c.lower() for c in names):
        return [_path_input(n, v) for n, v in enumerate(_column(data, ("path",)))]
    return [_file_input(n, v) for n, v in enumerate(_column(data, FILE_COLUMNS))]


def _path_input(n: int, value) -> Input:
    """A cell of the path column: a path; bytes there are a file's (MLflow names a Spark UDF's one argument after the
    signature's first input, whatever the column held)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _file_input(n, value)
    return Input(str(value), path=str(value)) if value else Input(f"row {n}", error="no path in this row")


def answer_frame(served: ServedModel, rows: list[dict]):
    """The answers (batch scoring's rows) as a pandas DataFrame of the task's typed answer columns and "error"."""
    import pandas as pd

    columns = [name for name, _ in answer_columns(served.task.kind)]
    return pd.DataFrame([typed_row(r, served.task.kind) for r in rows], columns=columns)


def _file_input(n: int, value) -> Input:
    if value is None:
        return Input(f"row {n}", error="no file in this row")
    try:
        return Input(f"row {n}", data=_bytes(value))
    except InputError as e:
        return Input(f"row {n}", error=str(e))


def _names(data) -> list[str] | None:
    if hasattr(data, "columns"):
        return [str(c) for c in data.columns]
    return [str(c) for c in data] if isinstance(data, dict) else None


def _column(data, wanted: tuple[str, ...]) -> list:
    """The values of the first ``wanted`` column (or of the only column) of a DataFrame or dict; a list as it is."""
    names = _names(data)
    if names is None:
        return list(np.asarray(data, dtype=object).reshape(-1))
    name = next((c for c in names if c.lower() in wanted), names[0] if len(names) == 1 else None)
    if name is None:
        raise InputError(f"expected a '{wanted[0]}' column (or just one column), got {names}")
    return list(np.asarray(data[name], dtype=object).reshape(-1))


def _bytes(value) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InputError("a file must be its bytes, or base64 text") from None
    raise InputError(f"a file must be its bytes, or base64 text, not {type(value).__name__}")


def _row_inputs(data) -> list[Input]:
    """Each row of a DataFrame (or dict of columns) as one input of its cells."""
    if hasattr(data, "to_dict"):
        return [Input(f"row {n}", record=r) for n, r in enumerate(data.to_dict(orient="records"))]
    if isinstance(data, dict):
        rows = len(next(iter(data.values()), []))
        return [Input(f"row {n}", record={k: v[n] for k, v in data.items()}) for n in range(rows)]
    return [
        Input(f"row {n}", record=r) if isinstance(r, dict) else Input(f"row {n}", error="not a row")
        for n, r in enumerate(data)
    ]


CELL_READERS = {
    "text": _text_inputs,
    "path": _file_inputs,
    "row": _row_inputs,
}  # a modality's cell kind -> its rows as inputs
