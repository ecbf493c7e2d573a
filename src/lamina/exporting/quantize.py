"""int8: ONNX Runtime static quantization of an exported graph, behind an accuracy gate.

Calibrated on the package's parity samples (the same real inputs the fp32 export is checked
on), activation ranges from the 99.999th percentile (one outlier does not stretch a range);
QDQ format, per-channel int8 weights, uint8 activations, on convolutions and matrix products
(not the audio front end's). The quantized graph is kept only
when its figure on the run's val split is within ``MAX_DROP`` of the fp32 graph's (accuracy,
micro-F1 or R^2, by task), or within one val example's share of accuracy where the split is too small to measure
0.5 points (143 digits: one flip is 0.70); otherwise nothing is written and the refusal carries both figures.
The server and batch scoring run ``model.int8.onnx`` when lamina.json records one.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lamina.common.errors import LaminaError
from lamina.common.files import atomic_write_bytes, read_json, sha256_file
from lamina.common.package import find_package, read_meta, write_meta
from lamina.data.dataset import prepare_eval_data
from lamina.data.modality import preprocess_from_meta
from lamina.data.task import Task
from lamina.exporting.onnx import INT8_FILE, ExportError, sample_inputs
from lamina.models.modality import torch_modality
from lamina.training.evaluation import evaluate_scores

MAX_DROP = 0.005  # 0.5 points of the gated figure
# Only the layers that carry the compute: quantizing every op (Gather, Concat, Add...) also rounds MiniLM's token ids,
# which travel as floats into its term bag (val accuracy 0.753 -> 0.186 on fortunes; these three: 0.753 -> 0.764).
QUANTIZED_OPS = ["Conv", "MatMul", "Gemm"]
# The graph's input front end (the log-mel layer's STFT convolution and mel matrix, ServingGraph.model.frontend)
# stays float: its outputs span decades that 8 bits cannot hold (dscnn val accuracy fell 16 points with it quantized).
FRONT_END_SCOPE = "/model/normalize/"


class QuantizationRefused(ExportError):
    """The int8 graph loses more than MAX_DROP on val; nothing was written."""


def quantize_int8(path: str | Path, max_drop: float = MAX_DROP) -> dict:
    """Write ``model.int8.onnx`` beside ``model.onnx`` when it keeps the val figure; record it in lamina.json.

    Raises:
        LaminaError: no model.onnx yet, or no val split to check against.
        QuantizationRefused: the val figure drops by more than ``max_drop``.
    """
    package = find_package(path)
    meta = read_meta(package)
    if not meta.get("export") or not (package / "model.onnx").is_file():
        raise LaminaError(f"{package}: no model.onnx to quantize; run `lamina export` first.")
    export = meta["export"]
    calibration = sample_inputs(package, meta)
    blob = _quantize(package / "model.onnx", export["input"]["name"], calibration)
    x, y, task = _val_split(package, meta)
    fp32 = _figure(package / "model.onnx", export, x, y, task)
    int8 = _figure(blob, export, x, y, task)
    metric = task.rules.monitor  # the task's own figure, higher is better: accuracy, micro-F1, R2
    allowed = allowed_drop(max_drop, metric, len(x))
    check = {
        "metric": metric,
        "fp32": fp32,
        "int8": int8,
        "n": int(len(x)),
        "max_drop": max_drop,
        "allowed": allowed,
        "calibration": int(len(calibration)),
    }
    if fp32 - int8 > allowed + 1e-9:
        raise QuantizationRefused(
            f"{package}: int8 refused: val {metric} {fp32:.4f} (fp32) -> {int8:.4f} (int8), a drop of "
            f"{(fp32 - int8) * 100:.2f} points (allowed {allowed * 100:.2f}); {INT8_FILE} was not written."
        )
    atomic_write_bytes(package / INT8_FILE, blob)
    export["int8"] = {
        "file": INT8_FILE,
        "sha256": sha256_file(package / INT8_FILE),
        "val": check,
        "speed": _speed(package / "model.onnx", blob, export["input"]["name"], calibration),
    }
    meta.setdefault("files", {})[INT8_FILE] = export["int8"]["sha256"]
    write_meta(package, meta)
    return export["int8"]


def allowed_drop(max_drop: float, metric: str, n: int) -> float:
    """The drop the gate lets through: ``max_drop``, but never finer than what ``n`` val examples measure on accuracy
    (one example's share, 1/n: a gate of 0.5 points on 143 examples would refuse any single flip). A negative
    ``max_drop`` (int8 must do better) is taken as given."""
    if max_drop < 0 or metric != "accuracy" or n == 0:
        return max_drop
    return max(max_drop, 1.0 / n)


def _quantize(onnx_path: Path, input_name: str, calibration: np.ndarray) -> bytes:
    """The QDQ int8 graph of ``onnx_path``, calibrated on ``calibration``, as bytes."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            # equal shapes: the histogram stacks them
            self.rows = iter(calibration[i : i + 1] for i in range(len(calibration)))

        def get_next(self):
            batch = next(self.rows, None)
            return None if batch is None else {input_name: batch}

    with tempfile.TemporaryDirectory(prefix="lamina-int8-") as tmp:
        prepared, out = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        # ONNX Runtime's quantizer warns on the root logger per 1-D weight (LayerNorm) and prints its calibration
        # steps to stdout (which is --json's): both kept quiet.
        logging.disable(logging.WARNING)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=True)
                front_end = [n.name for n in onnx.load(str(prepared)).graph.node if n.name.startswith(FRONT_END_SCOPE)]
                quantize_static(
                    str(prepared),
                    str(out),
                    Reader(),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    op_types_to_quantize=QUANTIZED_OPS,
                    nodes_to_exclude=front_end,
                    calibrate_method=CalibrationMethod.Percentile,
                )
        finally:
            logging.disable(logging.NOTSET)
        return out.read_bytes()


def _val_split(package: Path, meta: dict) -> tuple[np.ndarray, np.ndarray, Task]:
    """The run's val split as the graph's input (NHWC uint8 images, int16 clips, int64 token ids) and its targets."""
    data_json = package.parent / "data.json"
    info = read_json(data_json) if data_json.is_file() else {}
    if not info.get("splits", {}).get("val"):
        raise LaminaError(
            f"{package}: the int8 gate needs the run's val split (data.json beside the package, with the data "
            "still at its recorded path); quantize inside the run directory."
        )
    prep, task = preprocess_from_meta(meta), Task.from_meta(meta)
    tokenizer = prep.tokenizer_in(package)
    split, _ = prepare_eval_data(
        info["path"],
        prep,
        meta["labels"],
        "val",
        info["splits"],
        skip_bad=True,
        use_cache=False,
        tokenizer=tokenizer,
        columns=tuple(info.get("columns") or (None, None)),
        task=task,
    )
    x = torch_modality(prep).served(split.x[torch.arange(len(split))])  # the stored form -> the graph's input
    return np.ascontiguousarray(x, dtype=prep.dtype), split.y.numpy(), task


def _figure(graph: Path | bytes, export: dict, x: np.ndarray, y: np.ndarray, task: Task) -> float:
    """The gated figure of ``graph`` on (x, y), run in batches of 64 as the server would."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(graph) if isinstance(graph, Path) else graph, providers=["CPUExecutionProvider"])
    name, out = export["input"]["name"], export["output"]["name"]
    # activated, as y
    scores = np.concatenate([session.run([out], {name: x[i : i + 64]})[0] for i in range(0, len(x), 64)])
    return float(evaluate_scores(task, scores, y, present_only=True)[task.rules.monitor])


def _speed(fp32: Path, int8: bytes, input_name: str, samples: np.ndarray, runs: int = 20) -> dict:
    """Milliseconds per batch of 1 and of 32 (median of ``runs``, the two graphs interleaved) on this machine: int8 is
    not faster everywhere (tiny CNNs, depthwise convolutions; benchmarks/int8.py), and the server runs it in place of fp32."""
    import onnxruntime as ort

    sessions = {
        "fp32": ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]),
        "int8": ort.InferenceSession(int8, providers=["CPUExecutionProvider"]),
    }
    out = {}
    for batch in (1, 32):
        x = np.resize(samples, (batch, *samples.shape[1:]))
        times: dict[str, list[float]] = {k: [] for k in sessions}
        for _ in range(runs + 1):  # the first run of each warms it up and is dropped
            for k, session in sessions.items():
                start = time.perf_counter()
                session.run(None, {input_name: x})
                times[k].append((time.perf_counter() - start) * 1e3)
        fp32_ms, int8_ms = (float(np.median(times[k][1:])) for k in ("fp32", "int8"))
        out[f"batch_{batch}"] = {
            "fp32_ms": round(fp32_ms, 4),
            "int8_ms": round(int8_ms, 4),
            "speedup": round(fp32_ms / int8_ms, 3),
        }
    return out
