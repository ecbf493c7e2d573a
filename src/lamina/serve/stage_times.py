"""Per-stage request latency as Prometheus histograms, cheap enough for every request.

KServe names a request's stages ``request_preprocess_seconds``, ``request_predict_seconds`` and
``request_postprocess_seconds`` (label ``model_name``); lamina adds ``request_queue_seconds``, the wait for a batch.
Four observations per request through prometheus_client's Histogram (a lock and a walk over every bucket each) cost
about 15 us, 4% of a small model's requests per second (benchmarks/serve_hardening.py). Every observation here happens
on the server's event loop, so a bucket count is a list element and an observation is a bisect and two additions;
the counts become histogram families only when /metrics is scraped.
"""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client.core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString

# a request's stages, in the order it passes them; "queue": from its input being ready to its batch starting
STAGES = ("preprocess", "queue", "predict", "postprocess")
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class StageTimer:
    """One stage of one model: bucket counts (the last is +Inf) and the sum of seconds. Event-loop thread only."""

    def __init__(self):
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds


class StageTimes:
    """A prometheus_client collector of every model's StageTimers (``registry.register(StageTimes(models))``)."""

    def __init__(self, models: list[str]):
        self.timers = {(stage, m): StageTimer() for stage in STAGES for m in models}

    def timer(self, model: str, stage: str) -> StageTimer:
        return self.timers[(stage, model)]

    def collect(self):
        for stage in STAGES:
            family = HistogramMetricFamily(
                f"request_{stage}_seconds", f"{stage} latency per request", labels=["model_name"]
            )
            for (s, model), timer in self.timers.items():
                if s != stage:
                    continue
                running, buckets = 0, []
                for bound, count in zip((*map(floatToGoString, BUCKETS), "+Inf"), timer.counts):
                    running += count
                    buckets.append((bound, running))
                family.add_metric([model], buckets, timer.total)
            yield family
