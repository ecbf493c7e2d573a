"""One served model: its lamina.json, its ONNX Runtime session, and input decoding.

What it does not know about: torch, training, the run directory (only the package).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.common.errors import LaminaError
from lamina.common.files import sha256_file
from lamina.common.package import find_package, read_meta
from lamina.data.image import ImageDecodeError, ImagePreprocess, load_image


class InputError(ValueError):
    """A request's input cannot be used; the message is safe to send back (no paths)."""


@dataclass
class ServedModel:
    """A model package loaded for inference."""

    name: str
    package: Path
    meta: dict
    session: object  # onnxruntime.InferenceSession
    input_name: str
    output_name: str

    @property
    def labels(self) -> list[str]:
        return self.meta["labels"]

    @property
    def prep(self) -> ImagePreprocess:
        return ImagePreprocess.from_dict(self.meta["preprocessing"])

    @property
    def input_shape(self) -> list[int]:
        return list(self.meta["export"]["input"]["shape"])

    def decode_file(self, data: bytes) -> np.ndarray:
        """An uploaded image file -> uint8 (H, W, C) at the model's size."""
        try:
            return load_image(data, self.prep)
        except ImageDecodeError as e:
            raise InputError(f"cannot decode image ({e})") from None

    def check_batch(self, images: np.ndarray) -> np.ndarray:
        """Validate a uint8 (N, H, W, C) batch against the model's input signature."""
        expected = tuple(self.input_shape[1:])
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise InputError(f"expected shape [N, {', '.join(map(str, expected))}], got {list(images.shape)}")
        if images.dtype != np.uint8:
            raise InputError(f"expected UINT8 data, got {images.dtype}")
        return np.ascontiguousarray(images)

    def run(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, labels) for a checked uint8 batch."""
        return self.session.run([self.output_name], {self.input_name: images})[0]


def parse_model_arg(arg: str) -> tuple[str | None, str]:
    """'name=path' -> (name, path); 'path' -> (None, path)."""
    if "=" in arg and not Path(arg).exists():
        name, _, path = arg.partition("=")
        return name.strip(), path
    return None, arg


def load_served_model(arg: str, threads: int = 0) -> ServedModel:
    """Open a run directory or package for serving (needs model.onnx: `lamina export` writes it).

    Raises:
        LaminaError: not a package, no export, or model.onnx does not match its recorded sha256.
    """
    import onnxruntime as ort

    name, path = parse_model_arg(arg)
    package = find_package(path)
    meta = read_meta(package)
    export = meta.get("export")
    onnx_path = package / "model.onnx"
    if not export or not onnx_path.is_file():
        raise LaminaError(f"{package}: no model.onnx. Run `lamina export {path}` first.")
    if sha256_file(onnx_path) != export.get("sha256"):
        raise LaminaError(f"{onnx_path}: sha256 does not match lamina.json; re-run `lamina export {path}`.")
    if name is None:
        run_dir = package.parent if package.name == "model" else package
        name = run_dir.resolve().name
    if not name or "/" in name:
        raise LaminaError(f"{arg}: invalid model name {name!r}; use NAME=PATH with a name without '/'.")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
    return ServedModel(name, package, meta, session, export["input"]["name"], export["output"]["name"])
