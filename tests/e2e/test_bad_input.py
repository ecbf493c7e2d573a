"""Every bad input gives a message naming the file or row, exit status 2, and no traceback;
--skip-bad skips and lists each one in the run."""

import json

import numpy as np

from helpers import cli_fails, make_image_folders, run_cli, write_png
from lamina.cli.main import main


def test_missing_path(capsys, tmp_path):
    err = cli_fails(capsys, "train", tmp_path / "nope", "--output", tmp_path / "r")
    assert f"{tmp_path / 'nope'}: no such file or folder" in err


def test_empty_class_folder(capsys, tmp_path):
    make_image_folders(tmp_path / "d")
    (tmp_path / "d" / "c").mkdir()
    err = cli_fails(capsys, "train", tmp_path / "d", "--output", tmp_path / "r")
    assert f"{tmp_path / 'd' / 'c'}: empty class folder" in err


def test_single_class(capsys, tmp_path):
    make_image_folders(tmp_path / "d", classes=("only",))
    err = cli_fails(capsys, "train", tmp_path / "d", "--output", tmp_path / "r")
    assert "found 1 class (only)" in err and "at least 2" in err


def test_corrupt_image_then_skip_bad(capsys, tmp_path):
    make_image_folders(tmp_path / "d", per_class=10)
    bad = tmp_path / "d" / "a" / "005.png"
    bad.write_bytes(bad.read_bytes()[:30])
    err = cli_fails(capsys, "train", tmp_path / "d", "--output", tmp_path / "r")
    assert f"{bad}: cannot decode image" in err and "--skip-bad" in err
    code = main(
        [
            "train",
            str(tmp_path / "d"),
            "--output",
            str(tmp_path / "r2"),
            "--skip-bad",
            "--set",
            "train.epochs=1",
            "--set",
            "model.name=mlp",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "skipped 1" in captured.err and str(bad) in captured.err
    data = json.loads((tmp_path / "r2" / "data.json").read_text())
    assert [s["path"] for s in data["skipped"]] == [str(bad)]
    assert sum(sum(c.values()) for c in data["counts"].values()) == 19  # nothing else lost


def test_unsupported_file(capsys, tmp_path):
    make_image_folders(tmp_path / "d")
    (tmp_path / "d" / "b" / "readme.txt").write_text("not an image")
    err = cli_fails(capsys, "train", tmp_path / "d", "--output", tmp_path / "r")
    assert f"{tmp_path / 'd' / 'b' / 'readme.txt'}: unsupported file type '.txt'" in err


def test_csv_row_missing_file(capsys, tmp_path):
    make_image_folders(tmp_path / "img")
    rows = ["path,label"] + [f"img/{c}/{i:03d}.png,{c}" for c in "ab" for i in range(6)] + ["img/a/gone.png,a"]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    err = cli_fails(capsys, "train", tmp_path / "m.csv", "--output", tmp_path / "r")
    assert f"{tmp_path / 'm.csv'} row 14: file 'img/a/gone.png' does not exist" in err


def test_bad_config_key_on_command_line(capsys, tmp_path):
    make_image_folders(tmp_path / "d")
    err = cli_fails(capsys, "train", tmp_path / "d", "--set", "train.learning_rte=0.1")
    assert "unknown key 'train.learning_rte' (did you mean 'train.lr'?)" in err


def test_existing_output_is_not_overwritten(capsys, tmp_path):
    make_image_folders(tmp_path / "d")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "keep.txt").write_text("x")
    err = cli_fails(capsys, "train", tmp_path / "d", "--output", tmp_path / "r")
    assert "--overwrite" in err and (tmp_path / "r" / "keep.txt").exists()


def test_predict_on_a_corrupt_file(capsys, tmp_path, digits):
    make_image_folders(tmp_path / "d")
    assert (
        main(
            [
                "train",
                str(tmp_path / "d"),
                "--output",
                str(tmp_path / "r"),
                "--set",
                "train.epochs=1",
                "--set",
                "model.name=mlp",
            ]
        )
        == 0
    )
    capsys.readouterr()
    bad = write_png(tmp_path / "x.png", np.zeros((8, 8), np.uint8))
    bad.write_bytes(b"garbage")
    err = cli_fails(capsys, "predict", tmp_path / "r", bad)
    assert f"{bad}: cannot decode image" in err


def test_usage_error_exit_2_in_a_real_process():
    r = run_cli("train")
    assert r.returncode == 2 and "usage:" in r.stderr
    r = run_cli("evaluate", "no-run", "no-data")
    assert r.returncode == 2 and "no-run: no such run directory" in r.stderr and "Traceback" not in r.stderr
