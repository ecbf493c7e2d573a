"""`lamina serve`: load packages, build the app, run uvicorn; SIGTERM drains gracefully.

On SIGTERM or SIGINT, readiness turns 503 at once, the listener closes, in-flight requests
finish, then the process exits.
"""

from __future__ import annotations

import signal
import sys

import uvicorn

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


def serve(model_args: list[str], host: str = "127.0.0.1", port: int = 8000, options: ServeOptions | None = None,
          threads: int = 0) -> None:
    """Serve the given run directories / packages (``name=path`` to rename) until stopped."""
    models = [load_served_model(arg, threads) for arg in model_args]
    app = build_app(models, options or ServeOptions())
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=30, server_header=False)
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
