"""Explanations: the two sanity checks (lamina.explaining.sanity) of each map method on zero-config models of dev
sets of every modality, with the time one map takes.

    .venv/bin/python benchmarks/explanations.py [--sets digits,emoji,speech,fortunes] [--inputs 24]

Per set: `lamina train` zero-config, then ``--inputs`` inputs spread over the test split (or the whole set) are
explained by occlusion (ONNX Runtime), integrated gradients and, for the photo network, Grad-CAM. Figures: the mean
Spearman correlation of the trained and the randomised network's maps (below 0.5 passes), and how many of the
inputs answered right lose more evidence when their top fifth is hidden than a random fifth (80% passes); the
seconds per input cover its two maps (trained, randomised) and two deletions.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))

from measure import machine_line  # noqa: E402


def _make(name: str, out: Path) -> Path:
    if name == "emoji":  # 40 glyphs per group: a few minutes of encoding, not the whole set
        from lamina.datasets.emoji import make_emoji

        make_emoji(out, seed=0, per_class=40)
        return out
    made = {"digits": "digits", "speech": "speech-commands-synth", "fortunes": "fortunes"}[name]
    target = out.with_suffix(".csv") if name == "fortunes" else out
    subprocess.run([sys.executable, "-m", "lamina", "datasets", "make", made, "--output", str(target)], check=True)
    return target


def _samples(data: Path, n: int) -> list[tuple[str, str]]:
    """``n`` (input, label) pairs spread over the test split, or over the whole set."""
    if data.suffix == ".csv":
        with open(data, newline="") as f:
            rows = list(csv.DictReader(f))
        test = [r for r in rows if r.get("split") == "test"] or rows
        return [(r["text"], r["label"]) for r in test[:: max(1, len(test) // n)]][:n]
    files = [
        p
        for p in sorted(data.rglob("*"))
        if p.suffix in (".png", ".wav") and not any(part.startswith("_") for part in p.parts)
    ]
    test = [p for p in files if "test" in p.relative_to(data).parts[:1]] or files
    return [(str(p), p.parent.name) for p in test[:: max(1, len(test) // n)]][:n]


def _methods(name: str) -> list[str]:
    return ["occlusion", "integrated-gradients"] + (["grad-cam"] if name == "emoji" else [])


def main() -> None:
    from lamina.explaining.sanity import sanity_figures

    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="digits,emoji,speech,fortunes")
    ap.add_argument("--inputs", type=int, default=24)
    args = ap.parse_args()
    print("| dev set | model | method | randomisation: mean Spearman | deletion: top fifth wins | s per input |")
    print("|---|---|---|---|---|---|")
    for name in args.sets.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            data = _make(name, Path(tmp) / name)
            run = Path(tmp) / "run"
            r = subprocess.run(
                [sys.executable, "-m", "lamina", "train", str(data), "--output", str(run), "--json"],
                capture_output=True,
                text=True,
            )
            if r.returncode != 0:
                sys.exit(r.stderr[-3000:])
            model = yaml.safe_load((run / "config.yaml").read_text())["model"]["name"]
            samples = _samples(data, args.inputs)
            for method in _methods(name):
                t0 = time.perf_counter()
                f = sanity_figures(run, samples, method, Path(tmp) / method)
                per_input = (time.perf_counter() - t0) / len(samples)  # two maps and two deletions
                print(
                    f"| {name} | {model} | {method} | {f['correlation']:.3f} | {f['deletion_wins']}/{f['answered']} "
                    f"({f['deletion_wins'] / max(1, f['answered']):.0%}) | {per_input:.2f} |",
                    flush=True,
                )
    print(f"\n{machine_line()}")


if __name__ == "__main__":
    main()
