"""MLflow's ``python_function`` flavor over a lamina package, so MLflow's own tools (``mlflow models serve``,
``mlflow.pyfunc.load_model``, deployment plugins) can use a registered version.

The ``MLmodel`` that training logs beside the package (lamina.training.tracking) names this module as its loader: nothing is pickled, the package is read as
``lamina serve`` reads it (ONNX Runtime, the files' sha256 checked, no torch), and a prediction is the list
``lamina serve``'s ``/predict`` answers. Inputs: a DataFrame (``dataframe_split`` / ``dataframe_records``)
or a list; texts for a text model (the ``text`` column, or the only one), and for image and audio models
the file's bytes, or base64 text as JSON carries them (the ``file`` column, or the only one).
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from lamina.serve.runtime import InputError, ServedModel, load_served_model

FILE_COLUMNS = ("file", "image", "audio", "data", "bytes")


def _load_pyfunc(path: str) -> PackageModel:
    """What mlflow.pyfunc calls with the downloaded model folder."""
    return PackageModel(load_served_model(path))


class PackageModel:
    def __init__(self, served: ServedModel):
        self.served = served

    def predict(self, model_input, params: dict | None = None) -> list[dict]:
        """The answers for a batch: [{"label", "score", "top_k"}] / [{"labels", "scores"}] / [{"value"}].

        Raises:
            InputError: no usable column, an empty text, or a file that does not decode (the message says which row).
        """
        top_k = int((params or {}).get("top_k", 5))
        values = _column(model_input, "text" if self.served.prep.text_fields else None)
        if self.served.prep.text_fields:
            batch = self.served.encode_texts([str(v) for v in values])
        else:
            rows = []
            for n, v in enumerate(values):
                try:
                    rows.append(self.served.decode_file(_bytes(v)))
                except InputError as e:
                    raise InputError(f"row {n}: {e}") from None
            batch = np.stack(rows) if rows else np.zeros((0, *self.served.input_shape[1:]))
        return self.served.task.answer(self.served.run(self.served.check_batch(batch)), top_k)


def _column(data, text_column: str | None) -> list:
    """The input values of a DataFrame, a dict of columns, or a list."""
    if not (hasattr(data, "columns") or isinstance(data, dict)):
        return list(np.asarray(data, dtype=object).reshape(-1))
    names = [str(c) for c in (data.columns if hasattr(data, "columns") else data)]
    wanted = (text_column,) if text_column else FILE_COLUMNS
    name = next((c for c in names if c.lower() in wanted), names[0] if len(names) == 1 else None)
    if name is None:
        raise InputError(f"expected a '{wanted[0]}' column (or just one column), got {names}")
    return list(np.asarray(data[name], dtype=object).reshape(-1))


def _bytes(value) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InputError("a file must be its bytes, or base64 text") from None
    raise InputError(f"a file must be its bytes, or base64 text, not {type(value).__name__}")
