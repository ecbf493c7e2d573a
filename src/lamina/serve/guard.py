"""ASGI middleware that runs before any route: bearer-token auth and the body size limit.

Both answer without reading the body: a request with a Content-Length over the limit gets
413 at once; a chunked body is counted as it arrives and cut off at the limit. A gzip or
deflate body (Content-Encoding) is inflated as it arrives, never past the limit: its
decoded size counts, so a small compressed bomb gets 413 after at most limit+1 bytes of
output. Other encodings get 415.
"""

from __future__ import annotations

import hmac
import json
import zlib

OPEN_PATHS = ("/v2/health/live", "/v2/health/ready")


# Content-Encoding -> zlib wbits (31: gzip header; 15: zlib stream as HTTP "deflate" means)
ENCODINGS = {b"identity": None, b"gzip": 31, b"x-gzip": 31, b"deflate": 15}


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a streamed body passes the limit."""


class BadEncoding(Exception):
    """Raised from ``receive`` when a compressed body is corrupt or truncated."""


async def _send_json(send, status: int, payload: dict, headers: list | None = None) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Auth (when a token is set) and body limit for every HTTP request."""

    def __init__(self, app, token: str | None, max_body_bytes: int):
        self.app = app
        self.token = token.encode() if token else None
        self.max_body = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.token is not None and scope["path"] not in OPEN_PATHS:
            given = headers.get(b"authorization", b"")
            if not (given.startswith(b"Bearer ") and hmac.compare_digest(given[7:].strip(), self.token)):
                return await _send_json(send, 401, {"error": "missing or wrong bearer token"}, [(b"www-authenticate", b"Bearer")])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_body
            except ValueError:
                return await _send_json(send, 400, {"error": "invalid Content-Length"})
            if too_big:
                return await _send_json(send, 413, {"error": f"body larger than {self.max_body} bytes"})
        encoding = headers.get(b"content-encoding", b"identity").strip().lower()
        if encoding not in ENCODINGS:
            return await _send_json(send, 415, {"error": "unsupported Content-Encoding; use gzip, deflate or none"})
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge()
            return message

        if ENCODINGS[encoding] is None:
            return await self.app(scope, limited_receive, send)
        inflater, decoded = zlib.decompressobj(ENCODINGS[encoding]), 0

        async def inflating_receive():
            nonlocal decoded
            message = await limited_receive()
            if message["type"] != "http.request":
                return message
            try:
                out = inflater.decompress(message.get("body", b""), self.max_body - decoded + 1)
            except zlib.error:
                raise BadEncoding() from None
            decoded += len(out)
            if decoded > self.max_body or inflater.unconsumed_tail:
                raise BodyTooLarge()
            if not message.get("more_body", False) and not inflater.eof:
                raise BadEncoding()  # the stream ended before the compressed data did
            return {**message, "body": out}

        inner = dict(scope, headers=[(k, v) for k, v in scope["headers"] if k not in (b"content-encoding", b"content-length")])
        return await self.app(inner, inflating_receive, send)
