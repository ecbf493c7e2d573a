"""The photo model served: latency at batch 1, throughput at 16 connections, the server's memory.

    .venv/bin/python benchmarks/serve_photos.py [--duration 10]

Trains zero-config on the few-shot emoji set (the pretrained EfficientNet-Lite0, frozen), serves it, and POSTs
scikit-image's cat photo (451 x 300 JPEG) to /predict with wrk: the server decodes, resizes, crops and runs the
whole graph (backbone included) per request. Next to it, the baseline: ONNX Runtime alone running the same
model.onnx on the already-decoded 224 x 224 image at batch 1, in this process.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_throughput import rss_mb, run_wrk, wait_up  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    args = ap.parse_args()
    import onnxruntime as ort
    from PIL import Image
    from skimage import data as samples

    import lamina
    from lamina.datasets.emoji import make_emoji
    from lamina.data.image import ImagePreprocess, load_image

    work = Path(tempfile.mkdtemp(prefix="lamina-serve-photos-"))
    make_emoji(work / "emoji", per_class=20)
    lamina.train(work / "emoji", output=work / "run")
    buf = io.BytesIO()
    Image.fromarray(samples.chelsea()).save(buf, "JPEG", quality=90)
    (work / "cat.jpg").write_bytes(buf.getvalue())

    session = ort.InferenceSession(str(work / "run" / "model" / "model.onnx"), providers=["CPUExecutionProvider"])
    x = load_image(buf.getvalue(), ImagePreprocess(224, 3, fit="crop"))[None]
    name = session.get_inputs()[0].name
    for _ in range(5):
        session.run(None, {name: x})
    t = time.perf_counter()
    for _ in range(50):
        session.run(None, {name: x})
    ort_ms = (time.perf_counter() - t) / 50 * 1000

    proc = subprocess.Popen(
        [sys.executable, "-m", "lamina", "serve", f"photos={work / 'run'}", "--port", "18950"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = "http://127.0.0.1:18950/predict/photos"
        wait_up(url, proc)
        run_wrk(url, work / "cat.jpg", 2, 2)  # warm-up
        idle = rss_mb(proc.pid)
        rows = {c: run_wrk(url, work / "cat.jpg", c, args.duration) for c in (1, 16)}
        after = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    print(f"ONNX Runtime alone, batch 1, decoded 224 px input: {ort_ms:.1f} ms per image")
    print("\n| connections | req/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---|---|---|---|")
    for c, r in rows.items():
        print(f"| {c} | {r['rps']:,.1f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['errors']} |")
    print(f"\nserver resident memory: {idle:.0f} MB idle, {after:.0f} MB after the load")


if __name__ == "__main__":
    main()
