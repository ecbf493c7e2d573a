"""What the serving hardening costs and buys: this tree's server next to an earlier checkout's.

    .venv/bin/python benchmarks/serve_hardening.py --baseline-src /path/to/old/checkout/src [--rounds 4] [--duration 10]

Make the baseline with `git worktree add /tmp/old <commit>`. Both servers serve the same
digits model (resnet-small, 28 px). Throughput: paired rounds of wrk at 16 connections
(POST /predict/digits with a PNG), the two servers back to back, order flipped every other
round; printed per server, as the median of its rounds, with the median of paired ratios.
Health under decoding bombs: 6 clients each POST four 36-megapixel PNGs (a multipart body
of ~0.4 MB) while a probe GETs /v2/health/live every 50 ms; printed: the probe's median and
worst latency.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import tempfile
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_throughput import digits_model, run_wrk, wait_up  # noqa: E402

PY = sys.executable


def start(src: Path | None, run: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(src)) if src else dict(os.environ)
    proc = subprocess.Popen(
        [PY, "-m", "lamina", "serve", f"digits={run}", "--port", str(port), "--max-body-mb", "8"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    wait_up(f"http://127.0.0.1:{port}/predict/digits", proc)
    return proc


def bomb_body() -> tuple[bytes, str]:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (6000, 6000), (200, 30, 30)).save(buf, "PNG", compress_level=9)
    png, boundary = buf.getvalue(), "lamina-bench-boundary"
    parts = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{i}.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + png
        + b"\r\n"
        for i in range(4)
    )
    return parts + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def health_under_bombs(port: int) -> tuple[float, float, list[int]]:
    body, ctype = bomb_body()
    codes: list[int] = []

    def flood():
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict/digits", data=body, headers={"Content-Type": ctype}
        )
        try:
            with urllib.request.urlopen(req, timeout=300) as r:
                codes.append(r.status)
        except urllib.error.HTTPError as e:
            codes.append(e.code)

    threads = [threading.Thread(target=flood) for _ in range(6)]
    for t in threads:
        t.start()
    times = []
    while any(t.is_alive() for t in threads):
        t0 = time.perf_counter()
        urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/live", timeout=300).read()
        times.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.05)
    return statistics.median(times), max(times), sorted(codes)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline-src", type=Path, required=True, help="src/ of an earlier checkout")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--duration", type=int, default=10)
    args = ap.parse_args()
    run, png = digits_model(Path(tempfile.mkdtemp(prefix="lamina-hardening-bench-")))
    servers = {"this tree": None, "baseline": args.baseline_src.resolve()}
    rps: dict[str, list] = {n: [] for n in servers}
    p99: dict[str, list] = {n: [] for n in servers}
    for r in range(args.rounds):
        order = list(servers) if r % 2 == 0 else list(reversed(servers))
        for i, name in enumerate(order):
            proc = start(servers[name], run, 18800 + i)
            try:
                url = f"http://127.0.0.1:{18800 + i}/predict/digits"
                run_wrk(url, png, 4, 2)  # warm-up
                out = run_wrk(url, png, 16, args.duration)
                assert out["errors"] == 0, out
                rps[name].append(out["rps"])
                p99[name].append(out["p99"])
            finally:
                proc.terminate()
                proc.wait(timeout=60)
    ratios = [a / b for a, b in zip(rps["this tree"], rps["baseline"])]
    print(
        f"| server | req/s at 16 connections (median of {args.rounds}) | p99 ms (median) | health under bombs: median / worst ms | "
        "bomb requests answered |"
    )
    print("|---|---|---|---|---|")
    for i, name in enumerate(servers):
        proc = start(servers[name], run, 18900 + i)
        try:
            med, worst, codes = health_under_bombs(18900 + i)
        finally:
            proc.terminate()
            proc.wait(timeout=120)
        print(
            f"| {name} | {statistics.median(rps[name]):,.0f} | {statistics.median(p99[name]):.1f} | {med:.1f} / {worst:.1f} | "
            f"{', '.join(map(str, codes))} |"
        )
    print(
        f"\nreq/s ratio this tree / baseline: {statistics.median(ratios):.3f} (per round {min(ratios):.3f}-{max(ratios):.3f})"
    )


if __name__ == "__main__":
    main()
