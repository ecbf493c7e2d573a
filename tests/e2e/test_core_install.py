"""The serving-only install: `pip install lamina` (no extras) in a fresh venv has no torch, yet serves, predicts and
batch-scores a package trained in the full install with the same answers; training commands name the extra."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from helpers import free_port, run_cli, wait_ready

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def core(tmp_path_factory) -> Path:
    """A venv with `pip install lamina` from this checkout and nothing else: its bin/ folder."""
    venv = tmp_path_factory.mktemp("core") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    r = subprocess.run([*pip, "-c", str(REPO / "constraints.txt"), str(REPO)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return venv / "bin"


def _run(core: Path, *args, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the venv's own lamina, not this checkout's
    return subprocess.run([str(core / "lamina"), *map(str, args)], capture_output=True, text=True, env=env, **kw)


def test_the_core_install_has_no_torch_and_names_the_extra(core, digits):
    r = subprocess.run([str(core / "python"), "-c", "import torch"], capture_output=True, text=True)
    assert r.returncode != 0 and "No module named 'torch'" in r.stderr
    for args in (("train", digits), ("evaluate", digits, digits), ("export", digits), ("validate", digits)):
        r = _run(core, *args)
        assert r.returncode == 2 and "pip install 'lamina[train]'" in r.stderr and "Traceback" not in r.stderr, args


def test_predict_and_batch_scoring_answer_as_the_full_install(core, digits, digits_run, tmp_path):
    files = sorted((digits / "test").rglob("*.png"))[:12:3]
    full = json.loads(run_cli("predict", digits_run, *files, "--json", "--top-k", "3").stdout)["predictions"]
    r = _run(core, "predict", digits_run, *files, "--json", "--top-k", "3")
    assert r.returncode == 0, r.stderr
    for got, want in zip(json.loads(r.stdout)["predictions"], full):
        assert got["label"] == want["label"] and abs(got["score"] - want["score"]) <= 1e-4
    code = (
        f"import lamina, json; print(json.dumps(lamina.load({str(digits_run)!r}).predict({list(map(str, files))!r})))"
    )
    r = subprocess.run([str(core / "python"), "-c", code], capture_output=True, text=True)
    assert [a["label"] for a in json.loads(r.stdout)] == [w["label"] for w in full], r.stderr
    folder = digits / "test" / "3"
    assert run_cli("predict", digits_run, folder, "--output", tmp_path / "full.csv").returncode == 0
    r = _run(core, "predict", digits_run, folder, "--output", tmp_path / "core.csv")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "core.csv").read_text() == (tmp_path / "full.csv").read_text()


def test_the_core_install_serves(core, digits, digits_run):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen(
        [str(core / "lamina"), "serve", f"digits={digits_run}", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc)
        f = sorted((digits / "test").rglob("*.png"))[0]
        want = json.loads(run_cli("predict", digits_run, f, "--json").stdout)["predictions"][0]
        got = httpx.post(f"{url}/predict/digits", content=f.read_bytes()).json()["predictions"][0]
        assert got["label"] == want["label"] and abs(got["score"] - want["score"]) <= 1e-4
    finally:
        proc.terminate()
        proc.wait(timeout=30)
