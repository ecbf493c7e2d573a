"""Distributed data parallel through torchrun, on CPU with gloo: equivalence and fault tolerance."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from helpers import run_cli

# A network without BatchNorm: with it, each rank normalises its half-batch, which is
# DDP's documented behaviour and not what this test is about.
PLAIN = ["--set", "model.name=sequential", "--set", "model.layers=[{dense: 64}, relu]", "--set", "train.precision=fp32"]


def _train_losses(run: Path) -> list[tuple[int, float]]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in rows if r["split"] == "train"]


def test_two_processes_match_one_process(digits, tmp_path):
    from safetensors.numpy import load_file

    args = ["train", digits, "--set", "train.epochs=4", "--set", "train.batch_size=64", *PLAIN]
    one = run_cli(*args, "--output", tmp_path / "one")
    two = run_cli(*args, "--output", tmp_path / "two", "--nproc", "2")
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    a, b = _train_losses(tmp_path / "one"), _train_losses(tmp_path / "two")
    assert [s for s, _ in a] == [s for s, _ in b] and len(a) >= 4  # same steps, same global batch
    # Stated tolerance: the gradient all-reduce sums in another order than one process does.
    assert np.allclose([x for _, x in a], [x for _, x in b], rtol=1e-4, atol=0), (a, b)
    wa, wb = (
        load_file(tmp_path / "one" / "model" / "model.safetensors"),
        load_file(tmp_path / "two" / "model" / "model.safetensors"),
    )
    assert all(np.allclose(wa[k], wb[k], rtol=1e-3, atol=1e-5) for k in wa)
    assert json.loads((tmp_path / "two" / "run.json").read_text())["status"] == "completed"
    assert two.stdout.count("run: ") == 1  # only rank 0 reports


def _workers(launcher: int) -> dict[int, int]:
    """rank -> pid of the worker processes torchrun started under ``launcher``."""
    out = {}
    for child in subprocess.run(["pgrep", "-P", str(launcher)], capture_output=True, text=True).stdout.split():
        try:
            env = dict(x.split("=", 1) for x in Path(f"/proc/{child}/environ").read_text().split("\0") if "=" in x)
        except OSError:
            continue
        if "RANK" in env:
            out[int(env["RANK"])] = int(child)
    return out


def _start_and_kill_rank1(digits, out: Path, restarts: int) -> tuple[subprocess.Popen, float]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lamina",
            "train",
            str(digits),
            "--output",
            str(out),
            "--nproc",
            "2",
            "--max-restarts",
            str(restarts),
            "--set",
            "train.epochs=25",
            "--set",
            "train.checkpoint_every=5",
            *PLAIN,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out / "checkpoints" / "last").is_dir():
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    workers = _workers(proc.pid)
    assert 1 in workers, workers
    os.kill(workers[1], signal.SIGKILL)  # a worker we started, by PID
    return proc, time.monotonic()


def test_a_killed_worker_is_restarted_and_training_resumes(digits, tmp_path):
    proc, _ = _start_and_kill_rank1(digits, tmp_path / "run", restarts=1)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "resuming" in err  # the restarted group continued from the checkpoint
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "completed" and info["result"]["epochs"] == 25
    steps = [s for s, _ in _train_losses(tmp_path / "run")]
    assert steps == sorted(set(steps))  # metrics cut back to the checkpoint: no step logged twice


def test_restarts_used_up_exit_quickly_with_a_clear_message(digits, tmp_path):
    proc, killed_at = _start_and_kill_rank1(digits, tmp_path / "run", restarts=0)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert time.monotonic() - killed_at < 30  # no wait for a collective timeout
    assert (
        "distributed training failed" in err and "killed by signal 9" in err and "run the same command to resume" in err
    )


def test_nnodes_without_endpoint_is_refused(digits):
    r = run_cli("train", digits, "--nnodes", "2")
    assert r.returncode == 2 and "--rdzv-endpoint" in r.stderr


def test_launcher_flags_are_removed_from_the_worker_command():
    from lamina.cli.launch import worker_argv

    assert worker_argv(
        ["train", "d", "--nproc", "2", "--max-restarts=3", "--set", "a=1", "--rdzv-endpoint", "h:1"]
    ) == ["train", "d", "--set", "a=1"]
