"""A run directory under stress: two trainings on one --output, retried commands, a full disk,
SIGTERM preemption, credentials in the tracking URI, oversized CSV cells (docs/reliability.md)."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import time

from safetensors.torch import load_file

from helpers import make_image_folders, run_cli

SLOW = [
    "--set",
    "model.name=mlp",
    "--set",
    "train.epochs=400",
    "--set",
    "train.early_stopping=0",
    "--set",
    "train.checkpoint_every=5",
    "--seed",
    "1",
]


def _train(data, out, *args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "lamina", "train", str(data), "--output", str(out), *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _step(out) -> int:
    try:
        return json.loads((out / "checkpoints" / "last" / "state.json").read_text())["train"]["global_step"]
    except (OSError, ValueError, KeyError):
        return 0


def _wait_for(predicate, proc, seconds=120):
    deadline = time.monotonic() + seconds
    while not predicate() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, proc.stderr.read()


def test_a_second_training_on_a_running_output_is_refused(digits, tmp_path):
    out = tmp_path / "run"
    first = _train(digits, out, *SLOW)
    try:
        _wait_for(lambda: (out / "run.json").is_file(), first)  # before its first checkpoint: the old code deleted it
        r = run_cli("train", digits, "--output", out, *SLOW)
        assert r.returncode == 2 and f"another training (pid {first.pid})" in r.stderr, r.stderr
        r = run_cli("train", digits, "--output", out, *SLOW, "--overwrite")
        assert r.returncode == 2 and f"pid {first.pid}" in r.stderr
        _wait_for(lambda: _step(out) >= 5, first)
    finally:
        first.kill()  # SIGKILL: the kernel releases the lock
        first.wait()
    again = _train(digits, out, *SLOW)  # the same command resumes
    try:
        _wait_for(lambda: _step(out) > 5, again)
    finally:
        again.kill()
        again.wait()


def test_rerunning_a_completed_run_is_a_no_op(digits, digits_run):
    before = (digits_run / "model" / "model.safetensors").read_bytes()
    r = run_cli("train", digits, "--output", digits_run, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["already_complete"] is True and summary["metrics"]["test"]["accuracy"] > 0.9
    assert "already complete" in r.stderr
    assert (digits_run / "model" / "model.safetensors").read_bytes() == before
    r = run_cli("train", digits, "--output", digits_run, "--set", "train.epochs=2")
    assert r.returncode == 2 and "train.epochs=2 differs from the completed run" in r.stderr


def test_a_failed_checkpoint_write_leaves_the_previous_one(tmp_path):
    code = f"""
import resource, torch
from lamina.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
root = {str(tmp_path / "ck")!r}
save_checkpoint(root, "last", {{"w": torch.ones(10)}}, {{}}, {{"step": 1}})
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))  # every write past 100 kB fails, as on a full disk
try:
    save_checkpoint(root, "last", {{"w": torch.ones(1_000_000)}}, {{}}, {{"step": 2}})
except CheckpointError as e:
    print("ERROR", e)
weights, _, state, problems = load_checkpoint(root, "last")
print("STATE", state["step"], weights["w"].numel(), problems)
"""
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / ".last.tmp-999999").mkdir()  # left by a killed process
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "cannot write the 'last' checkpoint (File too large); the previous checkpoint is intact" in r.stdout
    assert "STATE 1 10 []" in r.stdout
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["last"]  # no .tmp folder, stale or new


def test_training_on_a_full_disk_is_exit_2(digits, tmp_path):
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))  # resnet-small's checkpoint needs 1.2 MB

    out = tmp_path / "run"
    proc = _train(digits, out, "--set", "train.epochs=2", preexec_fn=limit)
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 2, err
    assert (
        "cannot write" in err
        and "(File too large)" in err
        and "free disk space" in err.lower()
        and "Traceback" not in err
    )
    assert not list((out / "checkpoints").glob(".*tmp*"))
    assert json.loads((out / "run.json").read_text())["status"] == "failed"


def test_sigterm_checkpoints_and_the_same_command_resumes_exactly(digits, tmp_path):
    args = [
        "--set",
        "model.name=mlp",
        "--set",
        "train.epochs=6",
        "--set",
        "train.batch_size=32",
        "--deterministic",
        "--seed",
        "4",
    ]
    reference = tmp_path / "reference"
    assert run_cli("train", digits, "--output", reference, *args).returncode == 0
    out = tmp_path / "run"
    proc = _train(digits, out, *args)
    _wait_for(lambda: (out / "metrics.jsonl").is_file() and (out / "metrics.jsonl").stat().st_size > 0, proc)
    proc.send_signal(signal.SIGTERM)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 143, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert json.loads((out / "run.json").read_text())["status"] == "preempted"
    stopped_at = _step(out)
    assert stopped_at > 0
    r = run_cli("train", digits, "--output", out, *args)
    assert r.returncode == 0 and f"step {stopped_at}" in r.stderr, r.stderr
    a, b = load_file(reference / "model" / "model.safetensors"), load_file(out / "model" / "model.safetensors")
    assert all((a[k] == b[k]).all() for k in a)


def test_credentials_in_the_tracking_uri_are_kept_out_of_the_run(tmp_path):
    from helpers import free_port

    data = make_image_folders(tmp_path / "d")
    out = tmp_path / "run"
    uri = f"http://alice:s3cr3t-pw@127.0.0.1:{free_port()}"  # nothing listens: tracking is off, the run goes on
    r = run_cli(
        "train", data, "--output", out, "--set", "model.name=mlp", "--set", "train.epochs=1", "--tracking-uri", uri
    )
    assert r.returncode == 0, r.stderr
    assert "s3cr3t" not in r.stderr and "alice" not in r.stderr
    for name in ("config.yaml", "run.json", "report.html", "metrics.jsonl"):
        text = (out / name).read_text()
        assert "s3cr3t" not in text and "alice" not in text, name
    assert "http://127.0.0.1:" in (out / "config.yaml").read_text()


def test_a_csv_cell_over_the_csv_limit_names_its_row(tmp_path):
    table = tmp_path / "t.csv"
    rows = ["text,label"] + [f"short text number {i},{'ab'[i % 2]}" for i in range(10)] + ['"' + "x" * 140_000 + '",a']
    table.write_text("\n".join(rows) + "\n")
    r = run_cli("train", table, "--output", tmp_path / "r")
    assert r.returncode == 2 and "t.csv: row 12: field larger than field limit" in r.stderr, r.stderr
    assert "internal error" not in r.stderr
