"""Calibration: expected calibration error on the test split before and after the temperature lamina fits on val.

    .venv/bin/python benchmarks/calibration.py [--sets digits,fortunes,speech,anes96,affairs]

Zero-config `lamina train` per dev set (images: the digits maker; text: the fortunes maker; audio: the synthesized
keyword set, voices held out by engine; tables: benchmarks/tables.py's statsmodels surveys). Training fits the
temperature on val; the test split's figures are both the network's own probabilities' ECE and the calibrated
ones' (15 equal-width bins), with the accuracy (a temperature cannot change it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import tables  # noqa: E402  (the dev tables)
from measure import machine_line  # noqa: E402


def _made(name: str, work: Path, output: str) -> tuple[Path, list[str]]:
    out = work / output
    subprocess.run([sys.executable, "-m", "lamina", "datasets", "make", name, "--output", str(out)], check=True)
    return out, []


SETS = {
    "digits (image)": lambda w: _made("digits", w, "digits"),
    "fortunes (text)": lambda w: _made("fortunes", w, "fortunes.csv"),
    "keywords (audio)": lambda w: _made("speech-commands-synth", w, "speech"),
    "anes96 (table)": lambda w: (lambda t: (t[0], [f"data.label_column={t[1]}"]))(tables.anes96(w)),
    "affairs (table)": lambda w: (lambda t: (t[0], [f"data.label_column={t[1]}"]))(tables.affairs(w)),
}


def train(data: Path, settings: list[str], work: Path) -> tuple[dict, float]:
    t0 = time.perf_counter()
    sets = [a for s in settings for a in ("--set", s)]
    r = subprocess.run(
        [sys.executable, "-m", "lamina", "train", str(data), "--output", str(work / "run"), "--json", *sets],
        capture_output=True,
        text=True,
        env=dict(os.environ, LAMINA_PLAIN="1"),
    )
    if r.returncode != 0:
        sys.exit(r.stderr[-3000:])
    return json.loads(r.stdout)["metrics"]["test"], time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default=",".join(s.split()[0] for s in SETS))
    args = ap.parse_args()
    wanted = args.sets.split(",")
    print("| dev set | test n | accuracy | temperature | ECE before | ECE after | after / before | train s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, make in SETS.items():
        if name.split()[0] not in wanted:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            data, settings = make(Path(tmp))
            m, seconds = train(data, settings, Path(tmp))
        print(
            f"| {name} | {m['n']} | {m['accuracy']:.3f} | {m['temperature']:.3f} | {m['ece_uncalibrated']:.4f} "
            f"| {m['ece']:.4f} | {m['ece'] / max(m['ece_uncalibrated'], 1e-9):.2f} | {seconds:.0f} |"
        )
    print(f"\n{machine_line()}")


if __name__ == "__main__":
    main()
