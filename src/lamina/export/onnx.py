"""`lamina export RUN --format onnx`: model.onnx with preprocessing inside, and a parity check.

The graph takes what a server receives after decoding: uint8 images (N, H, W, C) at the
model's size. The cast, the layout change, the normalisation and the softmax are inside
the graph, so the server runs it with ONNX Runtime and nothing else. Export fails loudly
when ONNX Runtime and eager PyTorch disagree.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from lamina.common.errors import LaminaError
from lamina.common.files import atomic_write_bytes, read_json, sha256_file, write_json
from lamina.common.package import find_package
from lamina.data.image import ImagePreprocess, load_image
from lamina.models.package import load_model

OPSET = 17
PARITY_ATOL = 1e-4  # max |p_onnx - p_eager| over the sample batch, probabilities in [0, 1]
INPUT_NAME, OUTPUT_NAME = "images", "probabilities"


class ExportError(LaminaError):
    """The exported graph does not match the eager model."""

    exit_code = 1


class ServingGraph(torch.nn.Module):
    """uint8 (N, H, W, C) -> probabilities (N, labels): the network plus its input and output glue."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # (N, H, W, C) uint8 -> (N, K) float32
        x = images.permute(0, 3, 1, 2).to(torch.float32)
        return torch.softmax(self.model(x), dim=1)


def sample_images(package: Path, prep: ImagePreprocess, limit: int = 64, seed: int = 0) -> np.ndarray:
    """Real images for the parity check (the run's val/test files when the run is at hand), plus noise."""
    arrays = []
    data_json = package.parent / "data.json"
    if data_json.is_file():
        info = read_json(data_json)
        root = Path(info["path"])
        root = root.parent if root.is_file() else root
        keys = [k for split in ("test", "val") for k in info.get("splits", {}).get(split, [])][:limit]
        for key in keys:
            try:
                arrays.append(load_image(root / key, prep))
            except (OSError, ValueError):
                continue  # the data may have moved since training; noise below still checks the graph
    rng = np.random.default_rng(seed)
    arrays += list(rng.integers(0, 256, (8, prep.size, prep.size, prep.channels), dtype=np.uint8))
    return np.stack(arrays)


def parity(session, graph: ServingGraph, images: np.ndarray) -> dict:
    """Compare ONNX Runtime with eager PyTorch (fp32) on ``images``."""
    with torch.no_grad():
        eager = graph(torch.from_numpy(images)).numpy()
    onnx_out = session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]
    return {
        "n": int(len(images)),
        "max_abs_diff": float(np.max(np.abs(onnx_out - eager))),
        "argmax_equal": bool((onnx_out.argmax(1) == eager.argmax(1)).all()),
        "atol": PARITY_ATOL,
    }


def check_parity(check: dict, package: Path) -> dict:
    """Return ``check`` when ONNX and eager agree; raise ExportError otherwise."""
    if check["max_abs_diff"] > PARITY_ATOL or not check["argmax_equal"]:
        raise ExportError(
            f"{package}: ONNX parity failed: max |difference| {check['max_abs_diff']:.2e} (allowed {PARITY_ATOL:.0e}), "
            f"same labels: {check['argmax_equal']}. model.onnx was not written."
        )
    return check


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
    if meta["modality"] != "image":
        raise LaminaError(f"{package}: export of modality '{meta['modality']}' is not supported by this lamina version.")
    prep = ImagePreprocess.from_dict(meta["preprocessing"])
    graph = ServingGraph(model).eval()
    example = torch.zeros((2, prep.size, prep.size, prep.channels), dtype=torch.uint8)
    buf = io.BytesIO()
    # The TorchScript exporter: 0.18 s on digits' resnet-small against 5.4 s for the dynamo
    # exporter (which also needs onnxscript), same graph within 3e-7. Deprecated since torch
    # 2.9, still present in 2.13; its deprecation warning is silenced here, not elsewhere.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            graph, (example,), buf, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=OPSET,
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}, dynamo=False,
        )
    blob = buf.getvalue()
    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    check = check_parity(parity(session, graph, sample_images(package, prep)), package)
    atomic_write_bytes(package / "model.onnx", blob)
    section = {
        "format": "onnx",
        "file": "model.onnx",
        "sha256": sha256_file(package / "model.onnx"),
        "opset": OPSET,
        "input": {"name": INPUT_NAME, "dtype": "uint8", "shape": [-1, prep.size, prep.size, prep.channels], "layout": "NHWC"},
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [-1, len(meta["labels"])]},
        "parity": check,
        "onnxruntime": ort.__version__,
    }
    meta["export"] = section
    write_json(package / "lamina.json", meta)
    return section
