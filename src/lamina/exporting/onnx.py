"""`lamina export RUN --format onnx`: model.onnx with preprocessing inside, and a parity check.

The graph takes what a server has after decoding: uint8 images (N, H, W, C) at the model's
size, int16 clips (N, samples) at the model's rate (the log-mel features are computed inside
the graph), or int64 token ids (N, max_tokens) from the package's tokenizer.json (the
tokenizers library, no torch). The cast, the layout change, the normalisation and the softmax are
inside the graph, so the server runs it with ONNX Runtime and nothing else. Export fails
loudly when ONNX Runtime and eager PyTorch disagree.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from lamina.common.errors import LaminaError
from lamina.common.files import atomic_write_bytes, sha256_file
from lamina.common.package import find_package, write_meta
from lamina.data.audio import AudioPreprocess
from lamina.data.image import ImagePreprocess
from lamina.data.modality import preprocess_from_meta
from lamina.data.text_data import TextPreprocess, trim_padding
from lamina.data.task import Task
from lamina.models.modality import torch_modality
from lamina.models.output import activate
from lamina.models.package import load_model, read_parity_samples

OPSET = 17
PARITY_ATOL = 1e-4  # max |p_onnx - p_eager| over the sample batch, probabilities in [0, 1]
INPUT_NAME, TEXT_INPUT_NAME, AUDIO_INPUT_NAME = (
    p.graph_input_name for p in (ImagePreprocess, TextPreprocess, AudioPreprocess)
)
OUTPUT_NAME = "probabilities"
INT8_FILE = "model.int8.onnx"  # beside model.onnx when `lamina export --quantize int8` kept one (export/quantize.py)


class ExportError(LaminaError):
    """The exported graph does not match the eager model."""

    exit_code = 1


class ServingGraph(torch.nn.Module):
    """What a server has after decoding -> probabilities (N, labels): the network plus its input and output glue.

    Images: uint8 (N, H, W, C); audio: int16 clips (N, samples) (the log-mel front end is
    inside the network); text: int64 token ids (N, max_tokens).
    """

    def __init__(self, model: torch.nn.Module, modality: str, task: Task):
        super().__init__()
        self.model = model
        self.modality = torch_modality(modality)
        self.task = task  # its temperature, a regression target's scale: the package's, never a default

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # -> (N, outputs) float32: the task's scores
        return activate(self.task, self.model(self.modality.graph_input(inputs)))


def parity(
    session,
    graph: torch.nn.Module,
    inputs: np.ndarray,
    input_name: str = INPUT_NAME,
    output_name: str = OUTPUT_NAME,
    scale: float = 1.0,
    trimmed: np.ndarray | None = None,
) -> dict:
    """Compare ONNX Runtime with eager PyTorch (fp32) on ``inputs``; differences in units of ``scale`` (a regression
    target's standard deviation; probabilities: 1). ``trimmed``: what ONNX Runtime gets instead (the same token ids
    without their padding)."""
    with torch.no_grad():
        eager = graph(torch.from_numpy(inputs)).numpy()
    onnx_out = session.run([output_name], {input_name: inputs if trimmed is None else trimmed})[0]
    return {
        "n": int(len(inputs)),
        "max_abs_diff": float(np.max(np.abs(onnx_out - eager)) / scale),
        "argmax_equal": _same_top(eager, onnx_out, PARITY_ATOL * scale),
        "atol": PARITY_ATOL,
    }


def _same_top(eager: np.ndarray, onnx_out: np.ndarray, tie: float) -> bool:
    """Both answer the same top output for every row whose top is clear of the runner-up by more than ``tie``
    (two labels within the tolerance, as saturated sigmoids are, may come out in either order)."""
    if eager.shape[1] < 2:
        return True
    top2 = np.sort(eager, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > tie
    return bool((onnx_out.argmax(1) == eager.argmax(1))[clear].all())


def check_parity(check: dict, package: Path) -> dict:
    """Return ``check`` when ONNX and eager agree; raise ExportError otherwise."""
    if check["max_abs_diff"] > PARITY_ATOL or not check["argmax_equal"]:
        raise ExportError(
            f"{package}: ONNX parity failed: max |difference| {check['max_abs_diff']:.2e} (allowed {PARITY_ATOL:.0e}), "
            f"same labels: {check['argmax_equal']}. model.onnx was not written."
        )
    return check


def sample_inputs(package: Path, meta: dict, seed: int = 0) -> np.ndarray:
    """The parity samples of a package, as the exported graph takes them (also int8 calibration's inputs): the real
    inputs the package carries (parity.safetensors, written by training), then inputs no data set holds (noise). The
    package alone: the run's data.json and files are never read."""
    prep = preprocess_from_meta(meta)
    noise = prep.parity_noise(np.random.default_rng(seed))
    real = read_parity_samples(package, meta)
    return noise if real is None else np.concatenate([real.astype(noise.dtype), noise])


def export_onnx(path: str | Path) -> dict:
    """Write ``model.onnx`` into the package, check parity, record both in lamina.json.

    Returns:
        The "export" section written to lamina.json.
    Raises:
        ExportError: ONNX Runtime's probabilities differ by more than PARITY_ATOL or pick another label.
    """
    import onnxruntime as ort

    package = find_package(path)
    model, meta = load_model(package)
    prep = preprocess_from_meta(meta)
    task = Task.from_meta(meta)
    output_name = task.rules.graph_output
    graph, signature = ServingGraph(model, prep.name, task).eval(), prep.graph_input()
    input_name = signature["name"]
    example = torch.from_numpy(np.ones((2, *signature["shape"][1:]), dtype=prep.dtype))
    samples = sample_inputs(package, meta)
    buf = io.BytesIO()
    # The TorchScript exporter: 3-16x faster than the dynamo exporter on every model kind (which also needs
    # onnxscript), both within parity (benchmarks/DEFAULTS.md). Deprecated since torch 2.9, still present in
    # 2.13 (pyproject: torch<2.14); its deprecation warning is silenced here, not elsewhere.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # shape arithmetic ('SAME' padding) is constant at the exported size
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            graph,
            (example,),
            buf,
            input_names=[input_name],
            output_names=[output_name],
            opset_version=OPSET,
            dynamic_axes={
                input_name: {0: "batch", **({1: "tokens"} if signature.get("trim_padding") else {})},
                output_name: {0: "batch"},
            },
            dynamo=False,
        )
    blob = buf.getvalue()
    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    scale = task.rules.score_scale(task)
    check = check_parity(parity(session, graph, samples, input_name, output_name, scale), package)
    if signature.get(
        "trim_padding"
    ):  # each sample again, trimmed to its own length: the graph must not depend on the padding
        for one in samples:
            check_parity(
                parity(session, graph, one[None], input_name, output_name, scale, trimmed=trim_padding(one[None])),
                package,
            )
    atomic_write_bytes(package / "model.onnx", blob)
    section = {
        "format": "onnx",
        "file": "model.onnx",
        "sha256": sha256_file(package / "model.onnx"),
        "opset": OPSET,
        "input": signature,
        "output": {"name": output_name, "dtype": "float32", "shape": [-1, task.outputs]},
        "parity": check,
        "onnxruntime": ort.__version__,
    }
    meta["export"] = section
    meta.setdefault("files", {})["model.onnx"] = section["sha256"]
    meta["files"].pop(INT8_FILE, None)  # a new fp32 graph: an earlier int8 graph no longer matches it, nor is served
    write_meta(package, meta)
    return section
