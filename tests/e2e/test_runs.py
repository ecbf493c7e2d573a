"""`lamina runs ls | show | compare` read run directories back, including crashed ones."""

import json
import shutil
import subprocess
import sys

from helpers import run_cli


def test_ls_show_compare(digits_run, tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    shutil.copytree(digits_run, root / "a")
    shutil.copytree(digits_run, root / "b")
    cfg = (root / "b" / "config.yaml").read_text().replace("epochs: 30", "epochs: 7")
    (root / "b" / "config.yaml").write_text(cfg)
    # A run marked running whose process is gone is reported as crashed.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    info = json.loads((root / "b" / "run.json").read_text())
    info.update(status="running", pid=int(dead), result=None)
    (root / "b" / "run.json").write_text(json.dumps(info))

    r = run_cli("runs", "ls", root, "--json")
    assert r.returncode == 0, r.stderr
    runs = {x["name"]: x for x in json.loads(r.stdout)["runs"]}
    assert runs["a"]["status"] == "completed" and runs["b"]["status"] == "crashed"
    assert runs["a"]["model"] == "resnet-small" and runs["a"]["test_accuracy"] >= 0.97
    assert runs["b"]["val_accuracy"] is not None  # from metrics.jsonl when the run never finished
    table = run_cli("runs", "ls", root).stdout.splitlines()
    assert table[0].split()[:3] == ["name", "status", "modality"] and len(table) == 3

    shown = json.loads(run_cli("runs", "show", root / "a", "--json").stdout)
    assert shown["config"]["train"]["epochs"] == 30 and "metrics.jsonl" in shown["files"]
    assert len(shown["data_fingerprint"]) == 64

    diff = json.loads(run_cli("runs", "compare", root / "a", root / "b", "--json").stdout)
    assert diff["config_diff"] == {"train.epochs": [30, 7]}
    assert diff["side_by_side"]["status"] == ["completed", "crashed"]


def test_runs_errors(tmp_path):
    r = run_cli("runs", "show", tmp_path)
    assert r.returncode == 2 and "not a run directory" in r.stderr
    r = run_cli("runs", "ls", tmp_path / "missing")
    assert r.returncode == 2 and "no such folder of runs" in r.stderr
