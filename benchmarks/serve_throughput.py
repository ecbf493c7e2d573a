"""Serving throughput: lamina's server next to its own ceiling and its peers, in one run.

    .venv/bin/python benchmarks/serve_throughput.py [--duration 10] [--connections 1,16,64] [--bentoml PYTHON]

Two models: resnet-small on digits resized to 28x28 (a small CNN; the request is
POST /predict/digits with a PNG as the raw body) and MiniLM on fortunes (the body is a
UTF-8 quote). Servers, each in its own process:
- lamina (`lamina serve`, defaults);
- the ceiling: bare Starlette + uvicorn + httptools + uvloop reading the body and returning a
  fixed answer (benchmarks/ceiling_server.py): what the framework itself costs;
- images only: BentoML 1.4 serving the same model.onnx, without and with its adaptive
  batching (benchmarks/bentoml_service.py; `--bentoml` names a Python that has bentoml,
  onnxruntime and pillow, e.g. a separate venv, since BentoML pins its own Starlette);
- images only: the naive FastAPI + torch eager server (benchmarks/naive_server.py).
Load comes from `wrk` (Debian package wrk) in a separate process, one thread, N
connections, on the same cores. Printed: requests/s and its share of the ceiling, p50 and p99
latency, non-2xx answers, resident memory after the loads. Below each model's table: the
bound its own work sets (decoding one input and ONNX Runtime per sample at batch 32, measured
here), which no server on these cores can pass.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

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
    script.write_text(
        f'wrk.method = "POST"\nlocal f = io.open("{body}", "rb")\nwrk.body = f:read("*all")\nf:close()\n'
        'wrk.headers["Content-Type"] = "application/octet-stream"\n'
    )
    return script


def run_wrk(url: str, body: Path, connections: int, duration: int) -> dict:
    script = post_script(body)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": to_ms(lat["50"]),
        "p99": to_ms(lat["99"]),
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def digits_model(work: Path) -> tuple[Path, Path]:
    """(run directory, a test PNG): resnet-small trained 3 epochs on digits resized to 28x28."""
    import lamina
    from lamina.datasets.makers import make_digits

    make_digits(work / "digits")
    lamina.train(
        {"data": {"path": str(work / "digits"), "image_size": 28}, "train": {"epochs": 3}}, output=work / "digits-run"
    )
    return work / "digits-run", sorted((work / "digits" / "test" / "3").glob("*.png"))[0]


def text_model(work: Path) -> tuple[Path, Path]:
    """(run directory, a quote as a UTF-8 file): zero-config MiniLM trained 2 epochs on fortunes."""
    import csv

    import lamina
    from lamina.datasets.makers import make_fortunes

    make_fortunes(work / "fortunes.csv")
    lamina.train({"data": {"path": str(work / "fortunes.csv")}, "train": {"epochs": 2}}, output=work / "text-run")
    with open(work / "fortunes.csv", encoding="utf-8") as f:
        quote = next(row["text"] for row in csv.DictReader(f) if 100 < len(row["text"]) < 300)
    (work / "quote.txt").write_text(quote, encoding="utf-8")
    return work / "text-run", work / "quote.txt"


def own_work_bound(run: Path, body: Path) -> dict:
    """Per-request costs no server avoids: decoding the body, and the model per sample at batch 32 (ORT default threads)."""
    from lamina.serve.runtime import load_served_model

    model = load_served_model(str(run))
    data = body.read_bytes()
    x = model.decode_file(data)
    batch = np.repeat(x[None], 32, axis=0)
    decode_s = _per_call(lambda: model.decode_file(data))
    infer_s = _per_call(lambda: model.run(batch)) / 32
    return {"decode_us": decode_s * 1e6, "infer_us": infer_s * 1e6}


def _per_call(fn, seconds: float = 1.0) -> float:
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return (time.perf_counter() - start) / n


def measure(
    name: str, cmd: list[str], url: str, body: Path, connections: list[int], duration: int, env: dict | None = None
) -> dict:
    """Start a server, warm it, run wrk at each connection count, read its resident memory, stop it."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT / "benchmarks")
    try:
        wait_up(url, proc)
        ready = time.perf_counter() - t0
        run_wrk(url, body, 4, 2)  # warm-up
        runs = {c: run_wrk(url, body, c, duration) for c in connections}
        return {"runs": runs, "rss": tree_rss_mb(proc.pid), "ready_s": ready}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (BentoML runs its service in a child process)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(k) for k in children.read_text().split()] if children.exists() else []
    return rss_mb(pid) + sum(tree_rss_mb(k) for k in kids)


def servers(kind: str, run: Path, port: int, bentoml: str | None) -> dict[str, tuple[list[str], dict | None]]:
    name = "digits" if kind == "image" else "text"
    out = {
        "lamina": ([PY, "-m", "lamina", "serve", f"{name}={run}", "--port", str(port)], None),
        "ceiling (bare Starlette)": ([PY, str(ROOT / "benchmarks" / "ceiling_server.py"), str(port + 1)], None),
    }
    if kind == "image":
        if bentoml:
            for batching in ("0", "1"):
                env = {**os.environ, "LAMINA_BENCH_PACKAGE": str(run / "model"), "LAMINA_BENCH_BATCHING": batching}
                label = "BentoML 1.4, adaptive batching" if batching == "1" else "BentoML 1.4"
                out[label] = (
                    [
                        bentoml,
                        "-m",
                        "bentoml",
                        "serve",
                        "bentoml_service:Digits",
                        "--port",
                        str(port + 2 + int(batching)),
                    ],
                    env,
                )
        out["naive FastAPI + torch"] = (
            [PY, str(ROOT / "benchmarks" / "naive_server.py"), str(run), str(port + 4)],
            None,
        )
    return out


def report(kind: str, results: dict, bound: dict) -> None:
    ceiling = results["ceiling (bare Starlette)"]["runs"]
    print(f"\n### {kind}\n")
    print("| server | connections | req/s | share of the ceiling | p50 / p99 (ms) | non-2xx | RSS after load (MB) |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        for c, w in r["runs"].items():
            print(
                f"| {name} | {c} | {w['rps']:,.0f} | {w['rps'] / ceiling[c]['rps']:.0%} | {w['p50']:.2f} / {w['p99']:.2f} | "
                f"{w['errors']} | {r['rss']:.0f} |"
            )
    print(
        "\nstart-up until the first answer (s): "
        + ", ".join(f"{name} {r['ready_s']:.1f}" for name, r in results.items())
    )
    per_request = bound["decode_us"] + bound["infer_us"]
    print(
        f"\nown work per request: decode {bound['decode_us']:.0f} us + model {bound['infer_us']:.0f} us per sample at batch 32 "
        f"= {per_request:.0f} us: at most {1e6 / per_request:,.0f} req/s on these cores with no HTTP at all"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", default="1,16,64")
    ap.add_argument(
        "--bentoml", help="a Python with bentoml 1.4, onnxruntime and pillow (default: BentoML rows left out)"
    )
    ap.add_argument("--models", default="image,text")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"CPU: {cpu}, {os.cpu_count()} cores; wrk on the same cores; {args.duration} s per point")
    connections = [int(c) for c in args.connections.split(",")]
    work = Path(tempfile.mkdtemp(prefix="lamina-serve-bench-"))
    for i, kind in enumerate(args.models.split(",")):
        run, body = digits_model(work) if kind == "image" else text_model(work)
        route = "digits" if kind == "image" else "text"
        results = {}
        for j, (name, (cmd, env)) in enumerate(servers(kind, run, 18700 + 10 * i, args.bentoml).items()):
            port = cmd[cmd.index("--port") + 1] if "--port" in cmd else cmd[-1]
            results[name] = measure(
                name, cmd, f"http://127.0.0.1:{port}/predict/{route}", body, connections, args.duration, env
            )
        report(
            f"{kind}: {'resnet-small, digits 28x28, a PNG' if kind == 'image' else 'MiniLM, fortunes, a UTF-8 quote'}",
            results,
            own_work_bound(run, body),
        )


if __name__ == "__main__":
    main()
