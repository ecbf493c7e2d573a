"""Exact resume: a run killed with SIGKILL again and again, resumed each time, ends with
weights bit-identical to an uninterrupted run with the same seed."""

from __future__ import annotations

import json
import pickle
import random
import subprocess
import sys
import time
from pathlib import Path

from safetensors.torch import load_file

from helpers import run_cli

CONFIG = [
    "--set",
    "train.epochs=4",
    "--set",
    "train.checkpoint_every=2",
    "--set",
    "train.batch_size=64",
    "--set",
    "model.layers=[{conv: 8}, relu, {pool: 2}, {dropout: 0.1}, {dense: 32}]",
    "--deterministic",
    "--seed",
    "3",
]


def _weights(run: Path) -> dict:
    return load_file(run / "model" / "model.safetensors")


def _train(data: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lamina", "train", str(data), "--output", str(out), *CONFIG, *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _step(out: Path) -> int:
    try:
        return json.loads((out / "checkpoints" / "last" / "state.json").read_text())["train"]["global_step"]
    except (OSError, ValueError, KeyError):
        return 0


def test_sigkill_at_random_points_then_resume_is_bit_identical(digits, tmp_path):
    reference = tmp_path / "reference"
    r = run_cli("train", digits, "--output", reference, *CONFIG)
    assert r.returncode == 0, r.stderr
    n_train = sum(json.loads((reference / "data.json").read_text())["counts"]["train"].values())
    per_epoch = n_train // 64
    out = tmp_path / "killed"
    rng = random.Random(7)
    steps_at_kill = []
    proc = _train(digits, out)
    # Kill after checkpoints that straddle the first epoch boundary, each at a random moment after.
    for target in (per_epoch // 2, per_epoch + 1, 2 * per_epoch + 2):
        deadline = time.monotonic() + 120
        while proc.poll() is None and _step(out) < target and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(rng.uniform(0, 0.01))  # somewhere in a step, or inside a checkpoint write (steps take a few ms)
        proc.kill()  # SIGKILL
        proc.wait()
        steps_at_kill.append(_step(out))
        proc = _train(digits, out)  # the same command again: it resumes
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert min(steps_at_kill) < per_epoch < max(steps_at_kill)  # the kills straddle an epoch boundary
    assert json.loads((out / "run.json").read_text())["status"] == "completed"
    a, b = _weights(reference), _weights(out)
    assert set(a) == set(b)
    assert all((a[k] == b[k]).all() for k in a), "resumed weights differ from the uninterrupted run"
    lines = lambda p: [json.loads(x) for x in (p / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    ref_steps = [(x["split"], x["step"]) for x in lines(reference)]
    assert [(x["split"], x["step"]) for x in lines(out)] == ref_steps  # no line lost or logged twice


def test_resume_refusals(digits_run, tmp_path):
    r = run_cli("train", "unused", "--output", digits_run)
    assert r.returncode == 2 and "completed run" in r.stderr
    r = run_cli("train", "unused", "--output", digits_run, "--set", "train.epochs=1")
    assert r.returncode == 2 and "completed run" in r.stderr
    empty = tmp_path / "nothing"
    r = run_cli("train", "unused", "--output", empty, "--resume")
    assert r.returncode == 2 and "no checkpoint to resume from" in r.stderr


def test_pickle_in_place_of_a_checkpoint_is_never_executed(digits, tmp_path):
    out = tmp_path / "run"
    proc = _train(digits, out)
    while _step(out) < 4 and proc.poll() is None:
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    r = run_cli("train", digits, "--output", out, *CONFIG, "--set", "train.epochs=9")
    assert r.returncode == 2 and "train.epochs=9 differs from the run being resumed" in r.stderr
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    payload = pickle.dumps(Exploit())
    for name in ("model.safetensors", "state.safetensors"):
        (out / "checkpoints" / "last" / name).write_bytes(payload)
    r = subprocess.run(
        [sys.executable, "-m", "lamina", "train", str(digits), "--output", str(out), *CONFIG, "--resume"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert not marker.exists()
    assert r.returncode == 0, r.stderr
    assert "sha256 does not match" in r.stderr  # reported, and the previous good checkpoint was used


def test_run_that_died_before_its_first_checkpoint_starts_over(tmp_path, capsys):
    from helpers import make_image_folders
    from lamina.cli.main import main

    data = make_image_folders(tmp_path / "d")
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"status": "running", "pid": 999999999}))
    (out / "metrics.jsonl").write_text('{"step": 1, "epoch": 0, "split": "train"}\n')
    assert main(["train", str(data), "--output", str(out), "--set", "train.epochs=1", "--set", "model.name=mlp"]) == 0
    assert "stopped before its first checkpoint; starting over" in capsys.readouterr().err
    assert json.loads((out / "run.json").read_text())["status"] == "completed"
