"""`lamina serve`: load packages, build the app, run uvicorn; SIGTERM drains gracefully.

On SIGTERM or SIGINT, readiness turns 503 at once, the listener closes, in-flight requests
finish, then the process exits. A connection must send its request headers within
``header_timeout_s`` of opening (or of the first byte of its next request), and the body
within the Guard's deadline, so slow clients can neither pile up nor hold the drain.
"""

from __future__ import annotations

import gc
import signal
import sys

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from lamina.serve.app import ServeOptions, build_app
from lamina.serve.runtime import load_served_model


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with readiness dropped the moment a stop signal arrives."""

    def __init__(self, config: uvicorn.Config, core):
        super().__init__(config)
        self.core = core

    def handle_exit(self, sig, frame) -> None:
        self.core.ready = False
        super().handle_exit(sig, frame)


class HeaderDeadline(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose request headers do not arrive in time."""

    header_timeout_s = 10.0
    _timer = None

    def _arm(self) -> None:
        if self._timer is None:
            self._timer = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)


def serve(
    model_args: list[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    options: ServeOptions | None = None,
    threads: int = 0,
    versions: dict[str, str] | None = None,
    header_timeout_s: float = 10.0,
    max_connections: int | None = None,
) -> None:
    """Serve the given run directories / packages (``name=path`` to rename) until stopped.

    Args:
        versions: model argument -> the registry version it was fetched as (default "1").
        header_timeout_s: seconds a connection has to send its request headers.
        max_connections: open connections (and requests in progress) before new ones get 503.
    """
    versions = versions or {}
    models = [load_served_model(arg, threads, versions.get(arg, "1")) for arg in model_args]
    app = build_app(models, options or ServeOptions())
    # What is loaded by now (libraries, graphs, tokenizers) lives as long as the server: out of the collector's
    # sight, a full collection no longer walks it (p99 at 16 connections 15 ms -> 6.5 ms, benchmarks/serve_throughput.py).
    gc.collect()
    gc.freeze()
    protocol = type("Protocol", (HeaderDeadline,), {"header_timeout_s": header_timeout_s})
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        http=protocol,
        limit_concurrency=max_connections,
        timeout_graceful_shutdown=30,
        server_header=False,
    )
    server = DrainingServer(config, app.state.lamina)
    names = ", ".join(m.name for m in models)
    print(f"serving {names} on http://{host}:{port}/ (Ctrl-C to stop)", file=sys.stderr, flush=True)
    # uvicorn re-raises a stop signal after draining, through the handler that was there
    # before it; with this one, a drained SIGTERM ends the process with status 0.
    previous = signal.signal(signal.SIGTERM, lambda sig, frame: None)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    print("stopped after draining in-flight requests", file=sys.stderr, flush=True)
