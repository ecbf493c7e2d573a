"""Serving under load: sustained concurrency, overload, SIGTERM during load.

    .venv/bin/python benchmarks/reliability.py [--duration 60] [--connections 64]

Needs Debian's wrk. Serves resnet-small trained on digits (28x28) and reports:
1. `--connections` clients for `--duration` s on POST /predict: requests, errors (non-2xx
   and socket errors) and latency.
2. Overload: a server with --max-queue 2 --max-batch-size 1 flooded by 64 clients; 200
   probe requests beside the flood measure how fast a refusal (503) comes back, and
   /v2/health/live is timed at the same time.
3. SIGTERM while 16 clients load it: every request the server accepted must be answered
   (wrk's read errors and timeouts count the ones that were not); connections refused
   after the listener closed are reported separately (they were never accepted).
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess
import tempfile
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from serve_throughput import PY, digits_model, post_script, run_wrk, wait_up  # noqa: E402


def wrk_raw(url: str, body: Path, connections: int, duration: int) -> str:
    script = post_script(body)
    return subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(script), url],
        capture_output=True,
        text=True,
    ).stdout


def socket_errors(out: str) -> dict:
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return (
        dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
        if m
        else {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    )


def timed(req) -> tuple[int, float]:
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    return status, (time.perf_counter() - t0) * 1000


def start(run: Path, port: int, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [PY, "-m", "lamina", "serve", f"digits={run}", "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_up(f"http://127.0.0.1:{port}/predict/digits", proc)
    return proc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=60)
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()
    run, body = digits_model(Path(tempfile.mkdtemp(prefix="lamina-reliability-")))

    print("| check | result |")
    print("|---|---|")
    proc = start(run, 18801)
    try:
        r = run_wrk("http://127.0.0.1:18801/predict/digits", body, args.connections, args.duration)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    print(
        f"| {args.connections} clients for {args.duration} s | {r['rps'] * args.duration:,.0f} requests ({r['rps']:,.0f}/s), "
        f"{r['errors']} non-2xx, p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms |",
        flush=True,
    )

    proc = start(run, 18802, "--max-queue", "2", "--max-batch-size", "1")
    try:
        flood = threading.Thread(target=wrk_raw, args=("http://127.0.0.1:18802/predict/digits", body, 64, 12))
        flood.start()
        time.sleep(2)
        probe = urllib.request.Request(
            "http://127.0.0.1:18802/predict/digits",
            data=body.read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        )
        refusals, health = [], []
        for _ in range(200):
            status, ms = timed(probe)
            if status == 503:
                refusals.append(ms)
            health.append(timed("http://127.0.0.1:18802/v2/health/live")[1])
        flood.join()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    if refusals:
        print(
            f"| overload (queue 2, 64 clients flooding) | {len(refusals)}/200 probes refused with 503: median {statistics.median(refusals):.1f} ms, "
            f"max {max(refusals):.1f} ms; /v2/health/live median {statistics.median(health):.1f} ms, max {max(health):.1f} ms |"
        )
    else:
        print("| overload | no probe was refused (the flood did not fill the queue) |")

    proc = start(run, 18803)
    result: dict = {}
    loader = threading.Thread(
        target=lambda: result.update(out=wrk_raw("http://127.0.0.1:18803/predict/digits", body, 16, 8))
    )
    loader.start()
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    loader.join()
    out = result["out"]
    done = re.search(r"(\d+) requests in", out)
    errs = socket_errors(out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    print(
        f"| SIGTERM after 3 s of 16 clients | exit {code}; {done.group(1) if done else '?'} requests answered, "
        f"{non2xx.group(1) if non2xx else 0} non-2xx (503 while draining), dropped after acceptance: "
        f"{errs['read'] + errs['timeout']} (read errors + timeouts); refused after close: {errs['connect']} |"
    )


if __name__ == "__main__":
    main()
