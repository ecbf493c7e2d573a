"""ASGI middleware that runs before any route: the Host check, bearer-token auth, the body
size limit and the body deadline.

The Host check defeats DNS rebinding: a web page whose name is rebound to 127.0.0.1 sends its
own name as Host, so a server bound to loopback accepts only loopback names. Every response
carries ``X-Content-Type-Options: nosniff``.

Auth and size answer without reading the body: a request with a Content-Length over the limit gets
413 at once; a chunked body is counted as it arrives and cut off at the limit. A gzip or
deflate body (Content-Encoding) is inflated as it arrives, never past the limit: its
decoded size counts, so a small compressed bomb gets 413 after at most limit+1 bytes of
output. Other encodings get 415.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import sys
import zlib

HEALTH_PATHS = ("/v2/health/live", "/v2/health/ready")
OPEN_PATHS = (*HEALTH_PATHS, "/")  # the page loads without a token and asks for it before calling the API
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
NOSNIFF = (b"x-content-type-options", b"nosniff")


# Content-Encoding -> zlib wbits (31: gzip header; 15: zlib stream as HTTP "deflate" means)
ENCODINGS = {b"identity": None, b"gzip": 31, b"x-gzip": 31, b"deflate": 15}


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a streamed body passes the limit."""


class BadEncoding(Exception):
    """Raised from ``receive`` when a compressed body is corrupt or truncated."""


class BodyTimeout(Exception):
    """Raised from ``receive`` when the body has not arrived within the deadline."""


def host_name(value: bytes) -> str:
    """The name in a Host header, without its port, lower case ('[::1]:8000' -> '[::1]')."""
    text = value.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[: text.find("]") + 1]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def _bearer(header: bytes) -> bytes | None:
    """The credentials of an 'Authorization: Bearer X' header (the scheme is case-insensitive)."""
    scheme, _, value = header.strip().partition(b" ")
    return value.strip() if scheme.lower() == b"bearer" else None


if sys.version_info >= (3, 11):

    async def _within(awaitable, seconds: float):
        async with asyncio.timeout(seconds):  # a timer handle, no extra task per receive
            return await awaitable
else:  # pragma: no cover

    async def _within(awaitable, seconds: float):
        return await asyncio.wait_for(awaitable, seconds)


async def _send_json(send, status: int, payload: dict, headers: list | None = None) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Host check, auth (when a token is set), body limit and body deadline for every HTTP request."""

    def __init__(
        self,
        app,
        token: str | None,
        max_body_bytes: int,
        allowed_hosts: tuple[str, ...] | None = None,
        body_timeout_s: float = 30.0,
    ):
        self.app = app
        self.token = token.encode() if token else None
        self.max_body = max_body_bytes
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts) if allowed_hosts is not None else None
        self.body_timeout = body_timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_nosniff(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), NOSNIFF]}
            await send(message)

        return await self._checked(scope, receive, send_nosniff)

    async def _checked(self, scope, receive, send):
        headers = dict(scope["headers"])
        if self.allowed_hosts is not None and scope["path"] not in HEALTH_PATHS:
            if host_name(headers.get(b"host", b"")) not in self.allowed_hosts:
                return await _send_json(send, 403, {"error": "Host header not allowed (see --allowed-hosts)"})
        if self.token is not None and scope["path"] not in OPEN_PATHS:
            given = _bearer(headers.get(b"authorization", b""))
            if given is None or not hmac.compare_digest(given, self.token):
                return await _send_json(
                    send, 401, {"error": "missing or wrong bearer token"}, [(b"www-authenticate", b"Bearer")]
                )
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
        seen, deadline, done = 0, asyncio.get_running_loop().time() + self.body_timeout, False

        async def limited_receive():
            nonlocal seen, done
            if done:  # after the body only a disconnect can come: no deadline
                return await receive()
            try:
                message = await _within(receive(), deadline - asyncio.get_running_loop().time())
            except (TimeoutError, asyncio.TimeoutError):  # one class since 3.11, two before
                raise BodyTimeout() from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge()
                done = not message.get("more_body", False)
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

        # In place, not a copy: the endpoint's metric labels are written into this scope.
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k not in (b"content-encoding", b"content-length")]
        return await self.app(scope, inflating_receive, send)
