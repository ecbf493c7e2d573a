"""One served model: its lamina.json, its ONNX Runtime session, and input decoding
(images through Pillow, texts through the package's tokenizer.json).

What it does not know about: torch, training, the run directory (only the package).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from lamina.common.errors import DecodeError, LaminaError, TooLarge, UnsupportedFormat
from lamina.common.files import sha256_file
from lamina.common.package import find_package, read_meta
from lamina.data.audio import AudioPreprocess
from lamina.data.image import ImagePreprocess
from lamina.data.task import Task
from lamina.data.modality import preprocess_from_meta
from lamina.data.text_data import TextPreprocess, trim_padding


class InputError(ValueError):
    """A request's input cannot be used; the message is safe to send back (no paths)."""

    status = 400


class UnsupportedMedia(InputError):
    """An upload in a format the server does not accept."""

    status = 415


class InputTooLarge(InputError):
    """An upload whose header declares more pixels or seconds than the server decodes."""

    status = 413


@dataclass(frozen=True)
class DecodeLimits:
    """What one upload may cost, checked from its header before anything is decoded."""

    max_image_pixels: int = 50_000_000  # width x height: a 48-megapixel phone photo fits
    max_audio_seconds: float = 60.0  # longest clip


@dataclass
class ServedModel:
    """A model package loaded for inference."""

    name: str
    package: Path
    meta: dict
    session: object  # onnxruntime.InferenceSession
    input_name: str
    output_name: str
    tokenizer: object = None  # text models: tokenizers.Tokenizer from the package
    version: str = "1"  # the registry version it was fetched as (v2 model_version)
    graph: str = "model.onnx"  # the file the session runs: model.int8.onnx when the package has a quantized graph

    @property
    def modality(self) -> str:
        return self.meta["modality"]

    @property
    def datatype(self) -> str:
        """The v2 datatype of the graph's input: UINT8 pixels, INT16 audio samples or INT64 token ids."""
        return self.prep.datatype

    @property
    def labels(self) -> list[str]:
        return self.meta["labels"]

    @cached_property
    def task(self) -> Task:
        """What the outputs mean and how an answer reads (lamina.data.task)."""
        return Task.from_meta(self.meta)

    @cached_property
    def prep(self) -> ImagePreprocess | TextPreprocess | AudioPreprocess:  # read per request: built once
        return preprocess_from_meta(self.meta)

    @property
    def input_shape(self) -> list[int]:
        return list(self.meta["export"]["input"]["shape"])

    @cached_property
    def v2_inputs(self) -> list[dict]:
        """The inputs an infer request may send ({"name", "datatype", "shape"}), the one metadata advertises first: the
        modality says (the graph's input; for texts, the texts as BYTES and then the graph's token ids)."""
        graph = {"name": self.meta["export"]["input"]["name"], "datatype": self.datatype, "shape": self.input_shape}
        return self.prep.request_inputs(graph)

    @cached_property
    def advertised_inputs(self) -> list[dict]:
        """The inputs metadata lists: those a client should send (a table: one per column; else the first)."""
        return self.prep.advertised(self.v2_inputs)

    def from_named_inputs(self, named: dict[str, list], root: str | None = None) -> np.ndarray:
        """Values per request input (other than the graph's own tensor) -> one input batch, as the modality builds it;
        ``root``: the folder of a table on disk whose cells name files (batch scoring; never a request's)."""
        with _as_input_error(self.prep.name):
            return self.prep.from_named_inputs(named, self.tokenizer, None if root is None else Path(root))

    def decode_file(self, data: bytes, limits: DecodeLimits = DecodeLimits()) -> np.ndarray:
        """An uploaded file -> one model input: uint8 (H, W, C) for images, int16 (samples,) for audio, int64 ids (max_tokens,) for UTF-8 text.

        Raises:
            InputError: undecodable (400); UnsupportedMedia: not an accepted format (415);
                InputTooLarge: over ``limits`` by its header (413).
        """
        with _as_input_error(self.prep.name):
            return self.prep.decode(data, limits, self.tokenizer)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> int64 token ids (N, max_tokens), exactly as training tokenized."""
        with _as_input_error(self.prep.name):
            return self.prep.encode(texts, self.tokenizer)

    def check_batch(self, batch: np.ndarray) -> np.ndarray:
        """Validate a batch against the graph's input: its shape, dtype and the values the modality allows."""
        expected = tuple(self.input_shape[1:])
        if batch.ndim != len(expected) + 1 or tuple(batch.shape[1:]) != expected:
            raise InputError(f"expected shape [N, {', '.join(map(str, expected))}], got {list(batch.shape)}")
        want = self.prep.dtype
        if batch.dtype != want:
            raise InputError(f"expected {self.datatype} data, got {batch.dtype}")
        wrong = self.prep.out_of_range(batch)
        if wrong is not None:
            raise InputError(wrong)
        return np.ascontiguousarray(batch)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The activated outputs (N, outputs) for a checked batch; token ids without their common padding when the
        graph allows it (a short text costs a short run)."""
        if self.meta["export"]["input"].get("trim_padding"):
            batch = trim_padding(batch)
        return self.session.run([self.output_name], {self.input_name: batch})[0]


@contextmanager
def _as_input_error(what: str):
    """A modality's DecodeError as the InputError a client gets: 415 unsupported, 413 too large, else 400."""
    try:
        yield
    except UnsupportedFormat as e:
        raise UnsupportedMedia(f"unsupported {what} format ({e})") from None
    except TooLarge as e:
        raise InputTooLarge(f"{what} too large ({e})") from None
    except DecodeError as e:
        raise InputError(f"cannot decode {what} ({e})" if e.prefixed else str(e)) from None


def _tensors(graph):
    """Every TensorProto of an ONNX graph and its subgraphs (initializers and tensor attributes)."""
    yield from graph.initializer
    yield from (s.values for s in graph.sparse_initializer)
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for g in attr.graphs:
                yield from _tensors(g)


def check_self_contained(onnx_path: Path) -> None:
    """Refuse an ONNX graph that points to external data files (they could be anywhere on this machine).

    Raises:
        LaminaError: a tensor's data lives outside model.onnx, or the file is not an ONNX model.
    """
    import onnx

    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and friends
        raise LaminaError(f"{onnx_path}: not a readable ONNX model ({str(e)[:200]}).") from None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in _tensors(model.graph)):
        raise LaminaError(
            f"{onnx_path}: refers to external data files; lamina serves self-contained graphs only. "
            "Re-run `lamina export`."
        )


def parse_model_arg(arg: str) -> tuple[str | None, str]:
    """'name=path' -> (name, path); 'path' -> (None, path)."""
    if "=" in arg and not Path(arg).exists():
        name, _, path = arg.partition("=")
        return name.strip(), path
    return None, arg


def load_decoder(path: str | Path) -> ServedModel:
    """A package's input decoding alone (no ONNX Runtime session): what a batch-scoring worker process needs."""
    package = find_package(path)
    meta = read_meta(package)
    return ServedModel(package.name, package, meta, None, "", "", preprocess_from_meta(meta).tokenizer_in(package))


def load_served_model(arg: str, threads: int = 0, version: str = "1", spin: bool = True) -> ServedModel:
    """Open a run directory or package for serving (needs model.onnx: `lamina export` writes it).

    Raises:
        LaminaError: not a package, no export, or model.onnx does not match its recorded sha256.
    """
    import onnxruntime as ort

    name, path = parse_model_arg(arg)
    package = find_package(path)
    meta = read_meta(package)
    export = meta.get("export")
    if not export or not (package / "model.onnx").is_file():
        raise LaminaError(f"{package}: no model.onnx. Run `lamina export {path}` first.")
    graph = export.get("int8") or export  # a quantized graph that passed its accuracy gate is served in place of fp32
    onnx_path = package / graph.get("file", "model.onnx")
    if not onnx_path.is_file() or sha256_file(onnx_path) != graph.get("sha256"):
        raise LaminaError(
            f"{onnx_path}: missing or its sha256 does not match lamina.json; re-run `lamina export {path}`."
        )
    if name is None:
        run_dir = package.parent if package.name == "model" else package
        name = run_dir.resolve().name
    if not name or "/" in name:
        raise LaminaError(f"{arg}: invalid model name {name!r}; use NAME=PATH with a name without '/'.")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    if (
        not spin
    ):  # batch scoring: idle ONNX Runtime threads sleep instead of spinning, leaving the cores to the decoders
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
    check_self_contained(onnx_path)
    return ServedModel(
        name,
        package,
        meta,
        session,
        export["input"]["name"],
        export["output"]["name"],
        preprocess_from_meta(meta).tokenizer_in(package),
        version,
        onnx_path.name,
    )
