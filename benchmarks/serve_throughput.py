"""Serving throughput: lamina's server next to a naive FastAPI + torch eager server.

    .venv/bin/python benchmarks/serve_throughput.py [--duration 10] [--connections 1,16,64]

Both servers serve the same trained model (resnet-small on digits resized to 28x28, a
small CNN) and get the same request: POST /predict/digits with a PNG as the raw body.
Load comes from `wrk` (Debian package wrk) in a separate process, one thread, N
connections. Printed: requests/s, p50 and p99 latency, and each server's resident memory
(idle, before load; and after all loads).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_up(url: str, proc: subprocess.Popen) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()}")
        try:
            urllib.request.urlopen(url, data=b"", timeout=1)
            return
        except urllib.error.HTTPError:
            return  # an empty body is refused: the server answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def to_ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def post_script(body: Path) -> Path:
    """A wrk Lua script that POSTs the file ``body`` as the raw request body."""
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text(f'wrk.method = "POST"\nlocal f = io.open("{body}", "rb")\nwrk.body = f:read("*all")\nf:close()\n'
                      'wrk.headers["Content-Type"] = "application/octet-stream"\n')
    return script


def digits_model(prefix: str) -> tuple[Path, Path]:
    """(run directory, a test PNG): resnet-small trained 3 epochs on digits resized to 28x28, in a temp folder."""
    import lamina
    from lamina.data.makers import make_digits

    work = Path(tempfile.mkdtemp(prefix=prefix))
    make_digits(work / "digits")
    lamina.train({"data": {"path": str(work / "digits"), "image_size": 28}, "train": {"epochs": 3}}, output=work / "digits-run")
    return work / "digits-run", sorted((work / "digits" / "test" / "3").glob("*.png"))[0]


def run_wrk(url: str, body: Path, connections: int, duration: int) -> dict:
    script = post_script(body)
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": to_ms(lat["50"]), "p99": to_ms(lat["99"]),
            "errors": int(non2xx.group(1)) if non2xx else 0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", default="1,16,64")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    run, body = digits_model("lamina-serve-bench-")
    servers = {
        "lamina": [PY, "-m", "lamina", "serve", f"digits={run}", "--port", "{port}"],
        "naive FastAPI + torch": [PY, str(ROOT / "benchmarks" / "naive_server.py"), str(run), "{port}"],
    }
    results: dict[str, dict] = {}
    for i, (name, cmd) in enumerate(servers.items()):
        port = 18700 + i
        t0 = time.perf_counter()
        proc = subprocess.Popen([c.format(port=port) for c in cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            url = f"http://127.0.0.1:{port}/predict/digits"
            wait_up(url, proc)
            ready = time.perf_counter() - t0
            run_wrk(url, body, 4, 2)  # warm-up
            idle = rss_mb(proc.pid)
            results[name] = {"idle_rss": idle, "runs": {}, "ready_s": ready}
            for c in map(int, args.connections.split(",")):
                results[name]["runs"][c] = run_wrk(url, body, c, args.duration)
            results[name]["rss"] = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    lam, naive = results["lamina"], results["naive FastAPI + torch"]
    print("| connections | lamina req/s | naive req/s | ratio | lamina p50 / p99 (ms) | naive p50 / p99 (ms) | errors (lamina/naive) |")
    print("|---|---|---|---|---|---|---|")
    for c in lam["runs"]:
        a, b = lam["runs"][c], naive["runs"][c]
        print(f"| {c} | {a['rps']:,.0f} | {b['rps']:,.0f} | {a['rps'] / b['rps']:.2f} | {a['p50']:.1f} / {a['p99']:.1f} | "
              f"{b['p50']:.1f} / {b['p99']:.1f} | {a['errors']}/{b['errors']} |")
    print(f"\nresident memory (MB), idle -> after load: lamina {lam['idle_rss']:.0f} -> {lam['rss']:.0f}, "
          f"naive {naive['idle_rss']:.0f} -> {naive['rss']:.0f} (ratio after load {lam['rss'] / naive['rss']:.2f})")
    print(f"\nstart-up until the first answer (s): lamina {lam['ready_s']:.2f}, naive {naive['ready_s']:.2f} "
          f"(ratio {lam['ready_s'] / naive['ready_s']:.2f})")


if __name__ == "__main__":
    main()
