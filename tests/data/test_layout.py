import pytest

from helpers import make_image_folders, write_png
from lamina.common.errors import DataError
from lamina.data.layout import scan

import numpy as np


def test_class_folders(small_folders):
    layout = scan(small_folders)
    assert layout.kind == "folders" and layout.modality == "image"
    assert sorted({s.label for s in layout.samples}) == ["a", "b"]
    assert len(layout.samples) == 12 and not layout.has_splits


def test_split_folders_with_aliases(tmp_path):
    make_image_folders(tmp_path / "train")
    make_image_folders(tmp_path / "validation", per_class=2)
    layout = scan(tmp_path)
    assert layout.kind == "split-folders"
    assert {s.split for s in layout.samples} == {"train", "val"}
    assert all(s.key.startswith(("train/", "validation/")) for s in layout.samples)


def test_csv_manifest_with_header_and_split(tmp_path):
    make_image_folders(tmp_path / "img")
    rows = ["path,label,split"] + [f"img/a/{i:03d}.png,cat,{'test' if i == 0 else 'train'}" for i in range(6)]
    rows += [f"img/b/{i:03d}.png,dog,train" for i in range(6)]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    layout = scan(tmp_path / "m.csv")
    assert layout.kind == "manifest"
    assert {s.label for s in layout.samples} == {"cat", "dog"}
    assert sum(s.split == "test" for s in layout.samples) == 1


def test_csv_row_with_missing_file_names_row(tmp_path):
    make_image_folders(tmp_path / "img")
    (tmp_path / "m.csv").write_text("path,label\nimg/a/000.png,a\nimg/a/nope.png,a\n")
    with pytest.raises(DataError, match=r"m.csv row 3: file 'img/a/nope.png' does not exist"):
        scan(tmp_path / "m.csv")
    layout = scan(tmp_path / "m.csv", skip_bad=True)
    assert [s["path"] for s in layout.skipped] == [f"{tmp_path / 'm.csv'} row 3"]
    assert len(layout.samples) == 1


def test_missing_path():
    with pytest.raises(DataError, match="no-such-dir: no such file or folder"):
        scan("no-such-dir")


def test_empty_class_folder(small_folders):
    (small_folders / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: empty class folder"):
        scan(small_folders)
    assert scan(small_folders, skip_bad=True).skipped[0]["reason"].startswith("empty class folder")


def test_unsupported_file(small_folders):
    (small_folders / "a" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"a/notes.txt: unsupported file type '.txt'.*--skip-bad"):
        scan(small_folders)


def test_dotfiles_are_ignored(small_folders):
    (small_folders / "a" / ".DS_Store").write_bytes(b"\0\0")
    assert len(scan(small_folders).samples) == 12


def test_stray_file_at_root(small_folders):
    write_png(small_folders / "loose.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(DataError, match=r"loose.png: not inside a class folder"):
        scan(small_folders)


def test_nested_files_keep_path_order_and_keys(tmp_path, monkeypatch):
    img = np.zeros((8, 8), np.uint8)
    rels = ["a/x/2.png", "a/x-y/1.png", "a/x/10.png", "a/1.png", "a/.cache/9.png", "b/1.png"]
    for rel in rels:
        write_png(tmp_path / "d" / rel, img)
    monkeypatch.chdir(tmp_path / "d")
    from pathlib import Path

    layout = scan(Path("."))  # a relative root: keys are still relative to it
    keys = [s.key for s in layout.samples]
    # part by part, like sorted Paths; .cache skipped
    assert keys == [
        "a/1.png",
        "a/x/10.png",
        "a/x/2.png",
        "a/x-y/1.png",
        "b/1.png",
    ]
    assert [s.path for s in layout.samples] == sorted(Path(k) for k in keys)
    assert [s.label for s in layout.samples] == ["a"] * 4 + ["b"]
