"""Prometheus metrics with bounded labels: model names come only from the served set."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram

# a request's stages, as KServe names them (request_<stage>_seconds, label model_name); "queue" is lamina's own: the
# wait between a request's input being ready and its batch starting
STAGES = ("preprocess", "queue", "predict", "postprocess")
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
ENDPOINTS = ("infer", "predict", "metadata", "ready", "health", "server", "page", "metrics", "other")
UNKNOWN = "_unknown"


class Metrics:
    """One registry per app, so several apps (tests) never share series."""

    def __init__(self, model_names: list[str]):
        self.models = set(model_names)
        self._children: dict[
            tuple, tuple
        ] = {}  # bounded: model names from the served set, fixed endpoints, HTTP statuses
        self.registry = CollectorRegistry()
        self.duration = Histogram(
            "lamina_request_duration_seconds",
            "Request latency",
            ["model", "endpoint"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.requests = Counter(
            "lamina_requests",
            "Requests by model, endpoint and status",
            ["model", "endpoint", "status"],
            registry=self.registry,
        )
        self.stages = {
            stage: Histogram(
                f"request_{stage}_seconds",
                f"{stage} latency per request",
                ["model_name"],
                registry=self.registry,
                buckets=BUCKETS,
            )
            for stage in STAGES
        }
        self.batch_size = Histogram(
            "lamina_batch_size",
            "Samples per inference batch",
            ["model"],
            registry=self.registry,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
        )

    def _series(self, model: str, endpoint: str, status: int, seconds: float) -> None:
        """Record one request; the labelled children are looked up once per label set (labels() costs ~4 us)."""
        key = (model, endpoint, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.duration.labels(model, endpoint),
                self.requests.labels(model, endpoint, str(status)),
            )
        children[0].observe(seconds)
        children[1].inc()

    def stage(self, model: str, stage: str):
        """The histogram child that times ``stage`` of ``model``'s requests (``.observe(seconds)``)."""
        return self.stages[stage].labels(model)

    def model_label(self, name) -> str:
        return name if name in self.models else UNKNOWN

    def middleware(self, app):
        """Wrap an ASGI app: time each request, count it by the labels its endpoint set."""

        async def wrapped(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            start = time.perf_counter()
            status = {"code": 500}

            async def send_status(message):
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_status)
            finally:
                model, endpoint = scope.get("lamina.labels", (UNKNOWN, "other"))
                self._series(model, endpoint, status["code"], time.perf_counter() - start)

        return wrapped
