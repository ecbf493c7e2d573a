"""int8: `lamina export --quantize int8` on every model kind: the accuracy gate's figures and the speed-up.

    .venv/bin/python benchmarks/int8.py [--kinds resnet-small,dscnn,minilm,efficientnet] [--repeat 200]

Each kind is trained briefly through the CLI on offline data (the figures here are about
int8 against fp32 of the same weights, not about the best accuracy of the kind):
  resnet-small   zero-config digits (8x8)
  dscnn          the synthesized Speech Commands set (one clip per voice and word), 12 epochs
  minilm         zero-config text on fortunes (frozen all-MiniLM-L6-v2 + head), 2 epochs
  efficientnet   zero-config photos on the emoji set (frozen EfficientNet-Lite0 at 224 px), 2 epochs
Then `lamina export --quantize int8`; the gate's val figures (fp32 and int8) are printed
whether it keeps or refuses the graph. Speed: ONNX Runtime (default threads) on val inputs at
batch 1 and 32, fp32 model.onnx against the int8 graph (written to a side file when refused),
median milliseconds per batch over --repeat runs, interleaved.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RECIPES = {
    "resnet-small": ("digits", []),
    "dscnn": ("speech", ["--set", "model.name=dscnn", "--set", "train.epochs=12"]),
    "minilm": ("fortunes", ["--set", "train.epochs=2"]),
    "efficientnet": ("emoji", ["--set", "train.epochs=2"]),
}


def make_data(kind: str, root: Path) -> Path:
    from lamina.datasets.emoji import make_emoji
    from lamina.datasets.makers import make_digits, make_fortunes
    from lamina.datasets.speech_synth import make_speech_commands_synth

    out = root / kind
    {
        "digits": make_digits,
        "fortunes": lambda p: make_fortunes(p.with_suffix(".csv")),
        "emoji": make_emoji,
        "speech": lambda p: make_speech_commands_synth(p, per_voice=1),
    }[kind](out)
    return out.with_suffix(".csv") if kind == "fortunes" else out


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lamina", *map(str, args)], capture_output=True, text=True)


def timed(session, name: str, x: np.ndarray, repeat: int) -> list[float]:
    session.run(None, {name: x})
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        session.run(None, {name: x})
        out.append((time.perf_counter() - t) * 1e3)
    return out


def speed(package: Path, int8: Path, x: np.ndarray, repeat: int) -> dict:
    import onnxruntime as ort

    meta = json.loads((package / "lamina.json").read_text())
    name = meta["export"]["input"]["name"]
    sessions = {
        k: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        for k, p in (("fp32", package / "model.onnx"), ("int8", int8))
    }
    result = {}
    for batch in (1, 32):
        xb = np.resize(x, (batch, *x.shape[1:]))
        runs = {k: [] for k in sessions}
        for _ in range(4):  # interleaved rounds: neither side gets a quieter machine
            for k, s in sessions.items():
                runs[k] += timed(s, name, xb, repeat // 4)
        result[batch] = {k: statistics.median(v) for k, v in runs.items()}
    return result


def measure(kind: str, root: Path, repeat: int) -> dict:
    from lamina.exporting.onnx import sample_inputs
    from lamina.exporting.quantize import INT8_FILE, QuantizationRefused, _quantize, quantize_int8

    data_kind, options = RECIPES[kind]
    run = root / f"{kind}-run"
    t0 = time.perf_counter()
    r = cli("train", make_data(data_kind, root), "--output", run, "--json", *options)
    if r.returncode:
        sys.exit(r.stderr[-2000:])
    train_s = time.perf_counter() - t0
    package = run / "model"
    t0 = time.perf_counter()
    try:
        gate, kept = quantize_int8(run), True
        int8 = package / INT8_FILE
    except QuantizationRefused as e:
        gate, kept = {"refused": str(e)}, False
        meta = json.loads((package / "lamina.json").read_text())
        int8 = root / f"{kind}.int8.onnx"
        int8.write_bytes(
            _quantize(package / "model.onnx", meta["export"]["input"]["name"], sample_inputs(package, meta))
        )
    quantize_s = time.perf_counter() - t0
    meta = json.loads((package / "lamina.json").read_text())
    x = sample_inputs(package, meta)
    return {
        "kind": kind,
        "train_s": train_s,
        "quantize_s": quantize_s,
        "kept": kept,
        "gate": gate,
        "speed": speed(package, int8, x, repeat),
        "mb": ((package / "model.onnx").stat().st_size / 1e6, int8.stat().st_size / 1e6),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kinds", default="resnet-small,dscnn,minilm,efficientnet")
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "")
    isa = [f for f in ("avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8") if f" {f}" in flags]
    print(f"CPU: {cpu}; int8-relevant flags: {', '.join(isa) or 'none'}")
    root = Path(tempfile.mkdtemp(prefix="lamina-int8-"))
    print(
        "| model | val figure fp32 -> int8 | gate | ms at batch 1, fp32 / int8 (speed-up) | ms at batch 32, fp32 / int8 (speed-up) "
        "| graph MB fp32 / int8 |"
    )
    print("|---|---|---|---|---|---|")
    for kind in args.kinds.split(","):
        m = measure(kind, root, args.repeat)
        s1, s32 = m["speed"][1], m["speed"][32]
        g = m["gate"]
        figure = (
            f"{g['val']['metric']} {g['val']['fp32']:.4f} -> {g['val']['int8']:.4f}"
            if m["kept"]
            else g["refused"].split(": ", 2)[-1]
        )
        print(
            f"| {kind} | {figure} | {'kept' if m['kept'] else 'refused'} | {s1['fp32']:.3f} / {s1['int8']:.3f} "
            f"({s1['fp32'] / s1['int8']:.2f}x) | {s32['fp32']:.2f} / {s32['int8']:.2f} ({s32['fp32'] / s32['int8']:.2f}x) "
            f"| {m['mb'][0]:.1f} / {m['mb'][1]:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
