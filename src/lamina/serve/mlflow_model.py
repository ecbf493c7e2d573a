"""MLflow's ``python_function`` flavor over a lamina package, so MLflow's own tools (``mlflow.pyfunc.load_model``,
``mlflow.pyfunc.spark_udf``, ``mlflow models serve``, deployment plugins) can use a package or a registered version.

Every exported package holds an ``MLmodel`` (written by :func:`write_mlmodel` when ``lamina export`` runs) that names
this module as its loader: nothing is pickled, the package is read as ``lamina serve`` reads it (ONNX Runtime, the
files' sha256 checked, no torch), and ``mlflow.pyfunc.load_model(PACKAGE)`` works without a tracking server. The
model takes a DataFrame (or a dict of columns, or a list) and answers one row per input row with the columns
``lamina predict --output`` writes, typed so that Spark can hold them (lamina.serve.outputs.answer_columns): the
label, its score and the top-k as JSON text; the labels and scores of a multi-label model; a regression's value; and
``error``, the reason a row could not be scored (the other rows go on).

Inputs: texts for a text model (the ``text`` column, or the only one); for image and audio models, a ``path`` column
of files, or the files' bytes (or base64 text, as JSON carries them) in a ``file`` column (or the only one).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import yaml

from lamina.common.files import atomic_write_text
from lamina.serve.frames import answer_frame, frame_inputs
from lamina.serve.outputs import answer_columns
from lamina.serve.runtime import ServedModel, load_served_model
from lamina.serve.score import answer_rows

LOADER = "lamina.serve.mlflow_model"  # the python_function loader an MLmodel names
MLMODEL = "MLmodel"


def _load_pyfunc(path: str) -> PackageModel:
    """What mlflow.pyfunc calls with the model folder."""
    return PackageModel(load_served_model(path))


class PackageModel:
    def __init__(self, served: ServedModel):
        self.served = served

    def predict(self, model_input, params: dict | None = None):
        """A pandas DataFrame of the answers, a row per input row (see the module's docstring).

        Raises:
            InputError: no usable column.
        """
        inputs = frame_inputs(self.served, model_input)
        return answer_frame(self.served, answer_rows(self.served, inputs, int((params or {}).get("top_k", 5))))


# the input columns of the signature, by what a table's cell holds for the model (its modality's ``cell``)
SIGNATURE_INPUTS = {
    "text": lambda prep: [{"type": "string", "name": "text", "required": True}],
    "path": lambda prep: [
        {"type": "string", "name": "path", "required": False},
        {"type": "binary", "name": "file", "required": False},
    ],
    "row": lambda prep: [
        {"type": "double" if datatype == "FP32" else "string", "name": name, "required": False}
        for name, datatype in ((i["name"], i["datatype"]) for i in prep.advertised(prep.request_inputs({})))
    ],
}


def signature(prep, task: str) -> dict:
    """The MLmodel's signature: the input columns the model reads, the typed answer columns."""
    inputs = SIGNATURE_INPUTS[prep.cell](prep)
    outputs = [{"type": kind, "name": name, "required": False} for name, kind in answer_columns(task)]
    return {"inputs": json.dumps(inputs), "outputs": json.dumps(outputs), "params": None}


def write_mlmodel(package: Path, prep, task: str) -> Path:
    """``package``/MLmodel: the python_function flavor loaded by this module, and the signature."""
    doc = {
        "artifact_path": "model",
        "flavors": {
            "python_function": {
                "loader_module": LOADER,
                "data": ".",
                "python_version": platform.python_version(),
            }
        },
        "signature": signature(prep, task),
    }
    path = Path(package) / MLMODEL
    atomic_write_text(path, yaml.safe_dump(doc, sort_keys=False))
    return path
