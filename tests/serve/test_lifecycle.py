"""SIGTERM: readiness drops at once, in-flight requests finish, then the process exits 0."""

import threading
import time

import httpx

from helpers import Server


def test_sigterm_drains_in_flight_requests(digits_run):
    # A long batching window keeps one request in flight while the signal arrives.
    s = Server(digits_run, "--max-latency-ms", "1500", "--max-batch-size", "64")
    body = {"inputs": [{"name": "images", "shape": [1, 8, 8, 1], "datatype": "UINT8", "data": [0] * 64}]}
    result = {}

    def call():
        result["r"] = httpx.post(f"{s.url}/v2/models/digits/infer", json=body, timeout=30)

    t = threading.Thread(target=call)
    t.start()
    time.sleep(0.5)
    s.proc.terminate()
    t.join(30)
    assert result["r"].status_code == 200 and result["r"].json()["outputs"][1]["data"]
    assert s.proc.wait(timeout=30) == 0
    try:
        httpx.get(f"{s.url}/v2/health/ready", timeout=2)
        reachable = True
    except httpx.HTTPError:
        reachable = False
    assert not reachable  # the listener is closed after draining
