"""Open Inference Protocol v2 (KServe / Triton REST): request parsing and response shaping.

Supports JSON tensors and the binary tensor data extension that tritonclient uses by
default (``Inference-Header-Content-Length``). Every check raises InputError with a message
that is safe to return: it names the field, never a server path.
"""

from __future__ import annotations

import json
import math

import numpy as np

from lamina.data.task import Task

from lamina.serve.runtime import InputError

MAX_BATCH = 1024  # samples in one request
NP_DTYPES = {"UINT8": np.uint8, "FP32": np.float32, "INT64": np.int64, "INT16": np.int16}


def split_binary(body: bytes, header_length: str | None) -> tuple[dict, bytes]:
    """The JSON header of an infer request and the binary tail (empty for plain JSON)."""
    if header_length is not None:
        try:
            n = int(header_length)
        except ValueError:
            raise InputError("Inference-Header-Content-Length must be an integer") from None
        if not 0 < n <= len(body):
            raise InputError(f"Inference-Header-Content-Length {n} is outside the body ({len(body)} bytes)")
        head, tail = body[:n], body[n:]
    else:
        head, tail = body, b""
    try:
        doc = json.loads(head)
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"request body is not valid JSON ({e})") from None
    except RecursionError:
        raise InputError("request body is nested too deeply") from None
    if not isinstance(doc, dict):
        raise InputError("request body must be a JSON object with an 'inputs' list")
    return doc, tail


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


def parse_input(doc: dict, tail: bytes, expected_shape: list[int], datatype: str) -> np.ndarray:
    """The single input tensor of an infer request, checked against the model's signature.

    Args:
        expected_shape: [-1, d1, d2, ...] (the batch dimension is free).
        datatype: the v2 datatype the model takes, e.g. "UINT8".
    """
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise InputError("'inputs' must be a list with exactly one tensor")
    spec = inputs[0]
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


def input_datatype(doc: dict) -> str | None:
    """The datatype of the request's first input, if it names one."""
    inputs = doc.get("inputs")
    if (
        isinstance(inputs, list)
        and inputs
        and isinstance(inputs[0], dict)
        and isinstance(inputs[0].get("datatype"), str)
    ):
        return inputs[0]["datatype"]
    return None


def parse_text_input(doc: dict, tail: bytes) -> list[str]:
    """A BYTES input of N texts, shape [N] or [N, 1]: JSON strings, or the binary extension's
    length-prefixed elements (4-byte little-endian length, then the UTF-8 bytes)."""
    spec = doc["inputs"][0]
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
        items, pos = [], 0
        while pos < len(tail):
            if pos + 4 > len(tail):
                raise InputError("binary BYTES data ends inside an element's length prefix")
            size = int.from_bytes(tail[pos : pos + 4], "little")
            if pos + 4 + size > len(tail):
                raise InputError("binary BYTES element runs past the end of the body")
            items.append(tail[pos + 4 : pos + 4 + size])
            pos += 4 + size
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


def requested_outputs(doc: dict, available: tuple[str, ...] = ("probabilities", "label")) -> list[str]:
    """The output names asked for (all by default)."""
    outputs = doc.get("outputs")
    if outputs is None:
        return list(available)
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
    return names


def infer_response(
    model_name: str, request_id, scores: np.ndarray, task: Task, names: list[str], version: str = "1"
) -> dict:
    """The v2 response body for the task's scores (N, outputs): "probabilities" / "value" as FP32, "label" as BYTES
    (the label; for multi-label the labels above their thresholds joined by '; ')."""
    outputs = []
    for name in names:
        if name == "label":
            outputs.append({"name": name, "datatype": "BYTES", "shape": [len(scores)], "data": task.decided(scores)})
        else:
            outputs.append(
                {"name": name, "datatype": "FP32", "shape": list(scores.shape), "data": scores.ravel().tolist()}
            )
    body = {"model_name": model_name, "model_version": version, "outputs": outputs}
    if request_id is not None:
        body["id"] = request_id
    return body
