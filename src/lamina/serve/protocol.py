"""Open Inference Protocol v2 (KServe / Triton REST): request parsing and response shaping.

Supports JSON tensors and the binary tensor data extension (lamina.serve.binary_tensors) for inputs and outputs,
as tritonclient uses it by default: per-output ``binary_data`` over the request-wide ``binary_data_output``, and raw
binary requests. Every check raises InputError with a message that is safe to return: it names the field, never a
server path.
"""

from __future__ import annotations

import math

import numpy as np

from lamina.data.task import Task

from lamina.serve.binary_tensors import NP_DTYPES, bytes_elements, encode_bytes, encode_fp32
from lamina.serve.runtime import InputError

MAX_BATCH = 1024  # samples in one request


def request_id(doc: dict) -> str | None:
    """The request's "id", which the response returns; the protocol makes it a string."""
    rid = doc.get("id")
    if rid is not None and not isinstance(rid, str):
        raise InputError(f"'id' must be a string, got {type(rid).__name__}")
    return rid


def the_inputs(doc: dict, model_name: str, accepted: list[str], most: int = 1) -> list[dict]:
    """The request's input tensors (at most ``most``, each named once), whose names the model takes (``accepted``)."""
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not 1 <= len(inputs) <= most or not all(isinstance(i, dict) for i in inputs):
        raise InputError(
            "'inputs' must be a list with exactly one tensor"
            if most == 1
            else f"'inputs' must list 1 to {most} tensors"
        )
    names = [i.get("name") for i in inputs]
    for name in names:
        if name not in accepted:
            shown = " or ".join(repr(a) for a in accepted[:8]) + (", ..." if len(accepted) > 8 else "")
            raise InputError(
                f"unexpected inference input {str(name)[:40]!r} for model {model_name!r}; its input is {shown}"
            )
    if len(set(names)) < len(names):
        raise InputError("each input may be sent once")
    return inputs


def binary_parts(specs: list[dict], tail: bytes) -> list[bytes]:
    """Each input's bytes of the binary tensor extension's tail, in request order (b"" for an input sent as JSON).

    Raises:
        InputError: the inputs' binary_data_size do not add up to the tail.
    """
    parts, at = [], 0
    for spec in specs:
        size = (spec.get("parameters") or {}).get("binary_data_size")
        if size is None:
            parts.append(b"")
            continue
        if not isinstance(size, int) or size < 0 or at + size > len(tail):
            raise InputError("the inputs' binary_data_size must add up to the bytes after the JSON header")
        parts.append(tail[at : at + size])
        at += size
    if at != len(tail) and len(specs) > 1:
        raise InputError("the inputs' binary_data_size must add up to the bytes after the JSON header")
    return parts if len(specs) > 1 else [tail]


def _shape(value) -> list[int]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(d, int) and not isinstance(d, bool) for d in value)
    ):
        raise InputError(f"'shape' must be a non-empty list of integers, got {str(value)[:80]}")
    if any(d < 0 for d in value):
        raise InputError(f"'shape' has a negative dimension: {value}")
    return value


def parse_input(spec: dict, tail: bytes, expected_shape: list[int], datatype: str) -> np.ndarray:
    """An infer request's input tensor, checked against the model's signature.

    Args:
        spec: the request's input ({"name", "datatype", "shape", "data" or "parameters.binary_data_size"}).
        expected_shape: [-1, d1, d2, ...] (the batch dimension is free).
        datatype: the v2 datatype the model takes, e.g. "UINT8".
    """
    if spec.get("datatype") != datatype:
        raise InputError(f"input datatype must be {datatype}, got {str(spec.get('datatype'))[:20]!r}")
    shape = _shape(spec.get("shape"))
    want = list(expected_shape[1:])
    if len(shape) != len(expected_shape) or shape[1:] != want:
        raise InputError(f"input shape must be [N, {', '.join(map(str, want))}], got {shape[:8]}")
    if not 1 <= shape[0] <= MAX_BATCH:
        raise InputError(f"batch size must be between 1 and {MAX_BATCH}, got {shape[0]}")
    count = math.prod(shape)
    dtype = np.dtype(NP_DTYPES[datatype])
    params = spec.get("parameters") or {}
    if "binary_data_size" in params:
        size = params["binary_data_size"]
        if not isinstance(size, int) or size != count * dtype.itemsize or size != len(tail):
            raise InputError(
                f"binary_data_size must be {count * dtype.itemsize} bytes for shape {shape}, and match the body"
            )
        return np.frombuffer(tail, dtype=dtype).reshape(shape)
    data = spec.get("data")
    if not isinstance(data, list):
        raise InputError("input 'data' must be a list (or use the binary tensor extension)")
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError):
        raise InputError("input 'data' is ragged or not numeric") from None
    if arr.size != count:
        raise InputError(f"input 'data' has {arr.size} elements but shape {shape} needs {count}")
    if arr.dtype.kind not in "iuf" or (arr.dtype.kind == "f" and datatype != "FP32"):
        raise InputError(f"input 'data' must hold {datatype} numbers")
    limits = {"UINT8": (0, 255), "INT16": (-32768, 32767)}.get(datatype)
    if limits and arr.size and (arr.min() < limits[0] or arr.max() > limits[1]):
        raise InputError(f"{datatype} input 'data' must be integers in {limits[0]}..{limits[1]}")
    return arr.astype(dtype, copy=False).reshape(shape)


def input_values(spec: dict, tail: bytes, datatype: str) -> list:
    """One input of shape [N] as a list of N values: strings for BYTES, numbers for the numeric datatypes (a JSON
    null in FP32 data is NaN: a table's missing number, which JSON cannot spell otherwise)."""
    if datatype == "BYTES":
        return parse_text_input(spec, tail)
    data = spec.get("data")
    if datatype == "FP32" and isinstance(data, list) and any(v is None for v in data):
        spec = {**spec, "data": [math.nan if v is None else v for v in data]}
    return parse_input(spec, tail, [-1], datatype).tolist()


def parse_text_input(spec: dict, tail: bytes) -> list[str]:
    """A BYTES input of N texts, shape [N] or [N, 1]: JSON strings, or the binary extension's
    length-prefixed elements (4-byte little-endian length, then the UTF-8 bytes)."""
    if spec.get("datatype") != "BYTES":
        raise InputError(f"input '{spec.get('name')}' must be BYTES, got {str(spec.get('datatype'))[:20]!r}")
    shape = _shape(spec.get("shape"))
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise InputError(f"text input shape must be [N] or [N, 1], got {shape[:8]}")
    n = shape[0]
    if not 1 <= n <= MAX_BATCH:
        raise InputError(f"batch size must be between 1 and {MAX_BATCH}, got {n}")
    params = spec.get("parameters") or {}
    if "binary_data_size" in params:
        if params["binary_data_size"] != len(tail):
            raise InputError("binary_data_size must match the bytes after the JSON header")
        items = bytes_elements(tail)
    else:
        data = spec.get("data")
        if not isinstance(data, list):
            raise InputError("input 'data' must be a list of strings (or use the binary tensor extension)")
        flat = [x for row in data for x in (row if isinstance(row, list) else [row])]
        if not all(isinstance(x, str) for x in flat):
            raise InputError("BYTES input 'data' must hold strings")
        items = flat
    if len(items) != n:
        raise InputError(f"input has {len(items)} texts but shape {shape} needs {n}")
    texts = []
    for i, item in enumerate(items):
        if isinstance(item, bytes):
            try:
                item = item.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"text {i + 1} is not valid UTF-8") from None
        texts.append(item)
    return texts


def output_names(task: Task) -> tuple[str, ...]:
    """The v2 outputs of a task: class or per-label probabilities and the decided label(s); a regression's value."""
    return task.rules.output_names


def requested_outputs(doc: dict, available: tuple[str, ...]) -> list[tuple[str, bool]]:
    """(name, binary) of each output asked for; all of them when "outputs" is absent or empty (as Triton answers).
    An output's ``parameters.binary_data`` overrides the request's ``parameters.binary_data_output``."""
    every = _flag(doc, "binary_data_output", "request")
    outputs = doc.get("outputs")
    if outputs is None or outputs == []:
        return [(name, every) for name in available]
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise InputError("'outputs' must be a list of objects with a 'name'")
    names = [o["name"] for o in outputs]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise InputError(f"unknown output {unknown[0][:40]!r}; outputs are {' and '.join(repr(a) for a in available)}")
    if len(set(names)) != len(names):  # each repeat would copy the whole output into the response
        raise InputError("'outputs' names an output more than once")
    return [(o["name"], _flag(o, "binary_data", f"output '{o['name']}'", every)) for o in outputs]


def _flag(obj: dict, key: str, where: str, default: bool = False) -> bool:
    params = obj.get("parameters")
    if params is None:
        return default
    if not isinstance(params, dict):
        raise InputError(f"{where} 'parameters' must be an object")
    value = params.get(key, default)
    if not isinstance(value, bool):
        raise InputError(f"{where} parameter '{key}' must be true or false")
    return value


def infer_response(
    model_name: str, request_id, scores: np.ndarray, task: Task, outputs: list[tuple[str, bool]], version: str = "1"
) -> tuple[dict, bytes]:
    """The v2 response for the task's scores (N, outputs): (the JSON body or header, the binary tail, empty when no
    output is binary). "probabilities" / "value" are FP32; "label" is BYTES (the label; for multi-label the labels
    above their thresholds joined by '; ')."""
    shown, tail = [], []
    for name, binary in outputs:
        if name == "label":
            out, values = {"name": name, "datatype": "BYTES", "shape": [len(scores)]}, task.decided(scores)
            data = encode_bytes(values) if binary else values
        else:
            out = {"name": name, "datatype": "FP32", "shape": list(scores.shape)}
            data = encode_fp32(scores) if binary else scores.ravel().tolist()
        if binary:
            out["parameters"] = {"binary_data_size": len(data)}
            tail.append(data)
        else:
            out["data"] = data
        shown.append(out)
    body = {"model_name": model_name, "model_version": version, "outputs": shown}
    if request_id is not None:
        body["id"] = request_id
    return body, b"".join(tail)
