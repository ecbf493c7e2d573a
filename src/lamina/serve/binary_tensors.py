"""The binary tensor data extension of the Open Inference Protocol (Triton's, which KServe and tritonclient speak).

A request or response body is a JSON header followed by raw tensors, in the order the header lists them;
``Inference-Header-Content-Length`` gives the header's length and each binary tensor carries
``parameters.binary_data_size``. Tensors are little-endian, row major; a BYTES element is a 4-byte little-endian
length and then its bytes. A *raw binary request* (``Inference-Header-Content-Length: 0``) is the body of one
sample of the model's single input and nothing else: batch 1, every output answered in binary.
"""

from __future__ import annotations

import json

import numpy as np

from lamina.serve.runtime import InputError

HEADER = "inference-header-content-length"
# v2 datatypes lamina's graphs take or answer, as numpy dtypes
NP_DTYPES = {"UINT8": np.uint8, "FP32": np.float32, "INT64": np.int64, "INT16": np.int16}


def split_binary(body: bytes, header_length: str | None) -> tuple[dict | None, bytes]:
    """(the JSON header, the binary tail) of a request; (None, body) for a raw binary request (length 0)."""
    if header_length is not None:
        try:
            n = int(header_length)
        except ValueError:
            raise InputError("Inference-Header-Content-Length must be an integer") from None
        if n == 0:
            return None, body
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


def raw_request(body: bytes, spec: dict) -> tuple[dict, bytes]:
    """The request a raw binary body stands for: one sample of the input ``spec`` ({"name", "datatype", "shape"},
    the batch dimension first), all outputs in binary. A BYTES input takes the body as its one element."""
    if not body:
        raise InputError("a raw binary request (Inference-Header-Content-Length: 0) needs a body")
    if spec["datatype"] == "BYTES":
        shape, tail = [1], len(body).to_bytes(4, "little") + body
    else:
        shape, tail = [1, *spec["shape"][1:]], body
        want = int(np.prod(shape)) * np.dtype(NP_DTYPES[spec["datatype"]]).itemsize
        if len(body) != want:
            raise InputError(
                f"a raw binary request's body must be the {want} bytes of one {spec['datatype']} input "
                f"'{spec['name']}' of shape {shape}, got {len(body)}"
            )
    head = {"name": spec["name"], "datatype": spec["datatype"], "shape": shape}
    doc = {
        "inputs": [{**head, "parameters": {"binary_data_size": len(tail)}}],
        "parameters": {"binary_data_output": True},
    }
    return doc, tail


def bytes_elements(tail: bytes) -> list[bytes]:
    """The elements of a binary BYTES tensor (each a 4-byte little-endian length, then the bytes)."""
    items, pos = [], 0
    while pos < len(tail):
        if pos + 4 > len(tail):
            raise InputError("binary BYTES data ends inside an element's length prefix")
        size = int.from_bytes(tail[pos : pos + 4], "little")
        if pos + 4 + size > len(tail):
            raise InputError("binary BYTES element runs past the end of the body")
        items.append(tail[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return items


def encode_bytes(items: list[str]) -> bytes:
    """A BYTES tensor's binary form: each element's length (4 bytes, little-endian), then its UTF-8 bytes."""
    parts = []
    for item in items:
        data = item.encode("utf-8")
        parts += [len(data).to_bytes(4, "little"), data]
    return b"".join(parts)


def encode_fp32(values: np.ndarray) -> bytes:
    """An FP32 tensor's binary form: little-endian, row major."""
    return np.ascontiguousarray(values, dtype="<f4").tobytes()


def response_body(header: dict, tail: bytes) -> tuple[bytes, dict]:
    """(body, extra headers) of a response with binary outputs: the JSON header, then the tensors."""
    head = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return head + tail, {HEADER: str(len(head))}
