"""Prometheus metrics with bounded labels: model names come only from the served set."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram

from lamina.serve.stage_times import StageTimes

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
        self.stages = StageTimes(model_names)  # request_{preprocess,queue,predict,postprocess}_seconds
        self.registry.register(self.stages)
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
        """What times ``stage`` of ``model``'s requests (``.observe(seconds)``, on the event loop)."""
        return self.stages.timer(model, stage)

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
