"""lamina validate: every bad file at once, balance, leakage and near duplicates across splits."""

import json

import numpy as np
from PIL import Image

from helpers import make_image_folders, run_cli, write_png
from lamina.data.checks import average_hash


def _leaky(tmp_path):
    root = tmp_path / "d"
    rng = np.random.default_rng(0)
    for split, n_a, n_b in (("train", 40, 3), ("test", 4, 2)):
        for label, n in (("a", n_a), ("b", n_b)):
            for i in range(n):
                coarse = Image.fromarray(rng.integers(0, 255, (4, 4), dtype=np.uint8))  # smooth pictures, like photos
                write_png(root / split / label / f"{i:03d}.png", np.asarray(coarse.resize((32, 32), Image.BILINEAR)))
    (root / "test" / "a" / "copy.png").write_bytes((root / "train" / "a" / "000.png").read_bytes())  # exact leak
    img = Image.open(root / "train" / "a" / "001.png")
    img.resize((48, 48), Image.BILINEAR).save(root / "test" / "a" / "bigger.png")  # the same picture, resized
    (root / "train" / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "train" / "b" / "notes.txt").write_text("an unsupported file")
    return root


def test_validate_reports_everything_at_once(tmp_path):
    root = _leaky(tmp_path)
    r = run_cli("validate", root, "--json")
    assert r.returncode == 2, r.stderr
    report = json.loads(r.stdout)
    (bad,) = report["errors"]
    assert (
        bad["count"] == 2
        and any("broken.png" in p for p in bad["paths"])
        and any("notes.txt" in p for p in bad["paths"])
    )
    kinds = {w["kind"]: w for w in report["warnings"]}
    assert "train/a/000.png (train) = test/a/copy.png (test)" in kinds["leakage"]["paths"]
    assert any("bigger.png" in p and "train/a/001.png" in p for p in kinds["near-duplicates"]["paths"])
    assert "imbalance" in kinds and kinds["few-samples"]["paths"] == ["b"]
    counts = report["counts"]  # val is carved from train (there is no val folder)
    assert counts["train"]["a"] + counts["val"].get("a", 0) == 40 and counts["test"] == {"a": 6, "b": 2}


def test_clean_data_passes_and_text_output_lists_counts(tmp_path):
    root = make_image_folders(tmp_path / "d", per_class=6)
    r = run_cli("validate", root)
    assert r.returncode == 0, r.stderr
    assert "0 errors" in r.stdout and "12 files" in r.stdout


def test_training_warns_and_records_the_checks(tmp_path):
    root = _leaky(tmp_path)
    r = run_cli(
        "train", root, "--output", tmp_path / "run", "--skip-bad", "--set", "train.epochs=1", "--set", "model.name=mlp"
    )
    assert r.returncode == 0, r.stderr
    assert "warning: 1 file contents appear in more than one split" in r.stderr
    checks = json.loads((tmp_path / "run" / "data.json").read_text())["checks"]
    assert {c["kind"] for c in checks} >= {"leakage", "near-duplicates"}


def test_average_hash_survives_resizing_and_separates_different_images():
    rng = np.random.default_rng(1)
    # noqa: E731
    smooth = lambda: np.asarray(
        Image.fromarray(rng.integers(0, 255, (4, 4), dtype=np.uint8)).resize((64, 64), Image.BILINEAR)
    )
    a, other = smooth(), smooth()
    resized = np.asarray(Image.fromarray(a).resize((40, 40), Image.BILINEAR).resize((64, 64), Image.BILINEAR))
    h = average_hash(np.stack([a, resized, other])[..., None])
    assert h[0] == h[1] and h[0] != h[2]


def test_validate_text_and_audio(tmp_path):
    from helpers import topic_texts, write_text_csv
    from lamina.data.audio import write_wav

    rows = topic_texts(per_class=10)
    other = "food" if rows[0][1] != "food" else "sports"
    # empty; relabeled copy
    table = write_text_csv(tmp_path / "t.csv", rows[:5] + [("", "food")] + rows[5:] + [(rows[0][0], other)])
    r = run_cli("validate", table, "--json")
    assert r.returncode == 2, r.stderr
    out = json.loads(r.stdout)
    assert out["errors"][0]["paths"] == [f"{table}:7: empty text in column 'text'"]
    conflict = [w for w in out["warnings"] if w["kind"] == "conflicting-labels"]
    assert (
        conflict
        and conflict[0]["message"] == "1 texts carry more than one label"
        and f"row {len(rows) + 3}" in conflict[0]["paths"][0]
    )
    rng = np.random.default_rng(0)
    for label in ("yes", "no"):
        for i in range(6):
            write_wav(tmp_path / "a" / label / f"{i}.wav", (rng.standard_normal(8000) * 2000).astype(np.int16), 16000)
    write_wav(tmp_path / "a" / "no" / "long.wav", (rng.standard_normal(40000) * 2000).astype(np.int16), 16000)
    (tmp_path / "a" / "yes" / "empty.wav").write_bytes(b"")
    r = run_cli("validate", tmp_path / "a", "--json")
    assert r.returncode == 2, r.stderr
    out = json.loads(r.stdout)
    assert out["errors"][0]["paths"][0].startswith(f"{tmp_path / 'a' / 'yes' / 'empty.wav'}: cannot decode audio")
    cropped = [w for w in out["warnings"] if w["kind"] == "cropped"]
    assert cropped and cropped[0]["paths"] == [f"{tmp_path / 'a' / 'no' / 'long.wav'} (2.5 s)"]
