"""Batch scoring (`lamina predict MODEL INPUT --output FILE`): ONNX Runtime over a folder, manifest or text table,
a row per input, bad inputs listed, resumed after an interruption, split into shards."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from helpers import run_cli


def _rows(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def photos_in(digits, tmp_path_factory) -> Path:
    """200 digit images in two sub-folders, a file that is not an image and a hidden file (not an input)."""
    root = tmp_path_factory.mktemp("score") / "in"
    files = sorted((digits / "test").rglob("*.png"))[:200]
    for n, f in enumerate(files):
        dest = root / ("a" if n % 2 else "b") / f"{n:04d}.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest)
    (root / "b" / "0001_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / ".hidden.png").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def full(digits_run, photos_in, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("score-out") / "all.csv"
    r = run_cli("predict", digits_run, photos_in, "--output", out, "--json", "--batch-size", "16")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["rows"], summary["scored"], summary["errors"], summary["resumed_after"]) == (201, 201, 1, 0)
    return out


def test_a_row_per_input_equal_to_predict_and_bad_files_listed(digits_run, photos_in, full):
    rows = _rows(full)
    keys = [r["input"] for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == 201  # folder order, every input once, the hidden file not one
    bad = [r for r in rows if r["error"]]
    assert [r["input"] for r in bad] == ["b/0001_broken.png"] and "cannot decode image" in bad[0]["error"]
    sample = [r for r in rows if not r["error"]][:20:4]
    r = run_cli("predict", digits_run, *[photos_in / s["input"] for s in sample], "--json")
    assert r.returncode == 0, r.stderr
    for mine, theirs in zip(sample, json.loads(r.stdout)["predictions"]):
        assert mine["label"] == theirs["label"]
        assert float(mine["score"]) == pytest.approx(theirs["score"], abs=1e-4)  # ONNX Runtime vs torch
        assert len(json.loads(mine["top_k"])) == len(theirs["top_k"]) == 5


def test_a_rerun_goes_on_after_the_last_complete_row(digits_run, photos_in, full, tmp_path):
    """What a kill leaves (complete rows and a line cut short) is continued, not rescored or duplicated."""
    lines = full.read_text(encoding="utf-8").splitlines(keepends=True)
    partial = tmp_path / "part.csv"
    partial.write_text("".join(lines[:71]) + lines[71][:17], encoding="utf-8")  # header + 70 rows + a cut line
    r = run_cli("predict", digits_run, photos_in, "--output", partial, "--json", "--batch-size", "16")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["resumed_after"], summary["scored"], summary["rows"]) == (70, 131, 201)
    assert _rows(partial) == _rows(full)


def test_a_partial_output_of_other_inputs_is_refused(digits_run, photos_in, full, tmp_path):
    partial = tmp_path / "part.csv"
    lines = full.read_text(encoding="utf-8").splitlines(keepends=True)
    partial.write_text(lines[0] + lines[5], encoding="utf-8")  # one row, but not the first input's
    r = run_cli("predict", digits_run, photos_in, "--output", partial)
    assert r.returncode == 2
    assert str(partial) in r.stderr and "input changed" in r.stderr
    assert partial.read_text(encoding="utf-8") == lines[0] + lines[5]  # nothing lost


def test_shards_cover_every_input_once(digits_run, photos_in, full, tmp_path):
    parts = []
    for i in range(3):
        r = run_cli("predict", digits_run, photos_in, "--output", tmp_path / "p.jsonl", "--shard", f"{i}/3", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["output"] == str(tmp_path / f"p.{i}-of-3.jsonl")
        parts.append(_rows(tmp_path / f"p.{i}-of-3.jsonl"))
    assert [len(p) for p in parts] == [67, 67, 67]
    everything = {r["input"]: r.get("label") for p in parts for r in p}
    assert everything == {r["input"]: r["label"] or None for r in _rows(full)}


def test_parquet_output_holds_the_same_rows(digits_run, photos_in, full, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "p.parquet"
    r = run_cli("predict", digits_run, photos_in, "--output", out)
    assert r.returncode == 0, r.stderr
    table = pq.read_table(out).to_pylist()
    assert not (tmp_path / "p.parquet.partial.jsonl").exists()
    assert [(t["input"], t["label"] or "", t["error"] or "") for t in table] == [
        (r["input"], r["label"], r["error"]) for r in _rows(full)
    ]
    # a finished file is not appended to
    assert run_cli("predict", digits_run, photos_in, "--output", out).returncode == 2


def test_a_manifest_names_missing_files(digits_run, photos_in, tmp_path):
    manifest = tmp_path / "list.csv"
    files = sorted(p.relative_to(photos_in).as_posix() for p in photos_in.rglob("0*.png"))[:5]
    rel = Path("..") / photos_in.name
    shutil.copytree(photos_in, tmp_path.parent / photos_in.name, dirs_exist_ok=True)
    manifest.write_text("path\n" + "".join(f"{rel / f}\n" for f in files) + "missing.png\n", encoding="utf-8")
    r = run_cli("predict", digits_run, manifest, "--output", tmp_path / "m.jsonl")
    assert r.returncode == 0, r.stderr
    rows = _rows(tmp_path / "m.jsonl")
    assert [r["input"] for r in rows] == [str(rel / f) for f in files] + ["missing.png"]
    assert rows[-1]["error"].startswith("cannot read") and all("label" in r for r in rows[:4])


def test_a_text_table_is_scored_row_by_row(fasttext_run, corpus, tmp_path):
    table = tmp_path / "texts.csv"
    table.write_text(
        'id,body\n1,the match ended with a late goal\n2,"  "\n3,stocks fell as markets opened\n', encoding="utf-8"
    )
    out = tmp_path / "t.jsonl"
    r = run_cli("predict", fasttext_run[0], table, "--output", out, "--json")
    assert r.returncode == 0, r.stderr
    rows = _rows(out)
    assert [r["input"] for r in rows] == ["row 2", "row 3", "row 4"]
    assert rows[1] == {"input": "row 3", "error": "the text is empty"}
    r = run_cli(
        "predict", fasttext_run[0], "the match ended with a late goal", "stocks fell as markets opened", "--json"
    )
    assert [p["label"] for p in json.loads(r.stdout)["predictions"]] == [rows[0]["label"], rows[2]["label"]]


@pytest.mark.parametrize(
    "args, message",
    [
        (["nowhere/"], "no such file or folder"),
        (["{corpus}"], "needs a 'path' column"),
        (["{folder}", "--shard", "3/3"], "0 <= I < N"),
    ],
)
def test_bad_batch_arguments_exit_2(digits_run, corpus, photos_in, tmp_path, args, message):
    args = [a.format(corpus=corpus, folder=photos_in) for a in args]
    r = run_cli("predict", digits_run, *args, "--output", tmp_path / "x.csv")
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_an_output_file_batch_scoring_did_not_write_is_left_alone(digits_run, photos_in, tmp_path):
    out = tmp_path / "notes.jsonl"
    out.write_text("my own notes\n", encoding="utf-8")
    r = run_cli("predict", digits_run, photos_in, "--output", out)
    assert r.returncode == 2 and "not one batch scoring writes" in r.stderr, r.stderr
    assert out.read_text(encoding="utf-8") == "my own notes\n"


def test_a_job_killed_with_sigkill_resumes_and_scores_every_input_once(digits_run, tmp_path):
    """SIGKILL mid-job, then the same command: every input in the output exactly once, in order."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import numpy as np
    from PIL import Image

    root = tmp_path / "big"
    root.mkdir()
    photo = tmp_path / "noise.png"  # 900x900 noise: a few ms to decode, so the job is still running when killed
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (900, 900, 3), dtype=np.uint8)).save(photo)
    for n in range(400):
        os.link(photo, root / f"{n:04d}.png")
    out = tmp_path / "preds.csv"
    cmd = [
        sys.executable,
        "-m",
        "lamina",
        "predict",
        str(digits_run),
        str(root),
        "--output",
        str(out),
        "--batch-size",
        "8",
        "--json",
    ]
    job = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while job.poll() is None and time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") > 1 + 16:
            break
        time.sleep(0.005)
    os.killpg(job.pid, signal.SIGKILL)  # the job and its decoding processes, as a kill of the whole job does
    job.wait(timeout=30)
    assert job.returncode == -signal.SIGKILL
    written = out.read_bytes().count(b"\n") - 1
    assert 16 <= written < 400
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["resumed_after"] == written and summary["rows"] == 400  # a cut line is dropped, never kept twice
    rows = _rows(out)
    assert [row["input"] for row in rows] == [f"{n:04d}.png" for n in range(400)]
    assert all(row["label"] == rows[0]["label"] and not row["error"] for row in rows)


def test_a_csv_killed_after_its_header_gets_no_second_header(digits_run, photos_in, full, tmp_path):
    partial = tmp_path / "part.CSV"  # the format is read from the suffix whatever its case
    partial.write_text(full.read_text(encoding="utf-8").splitlines(keepends=True)[0], encoding="utf-8")
    r = run_cli("predict", digits_run, photos_in, "--output", partial, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["resumed_after"] == 0
    assert partial.read_text(encoding="utf-8") == full.read_text(encoding="utf-8")
