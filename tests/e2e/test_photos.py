"""Photos end to end: zero-config picks the pretrained EfficientNet-Lite0 (frozen), trains on a few-shot
set, exports one ONNX graph with the backbone, and the server answers a real phone-style photo (any size,
EXIF-rotated) exactly as `lamina predict` does."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from helpers import Server, run_cli


@pytest.fixture(scope="module")
def photo_run(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "photos"
    r = run_cli("train", photos, "--output", out, "--json")
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout), r.stderr


def _sideways_jpeg() -> bytes:
    """scikit-image's cat photo (451 x 300) stored rotated, with EXIF orientation 6 saying how to turn it upright."""
    from skimage import data

    upright = Image.fromarray(data.chelsea())
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a phone writes: pixels sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=92, exif=exif)
    return buf.getvalue()


def test_zero_config_uses_the_frozen_backbone_at_224(photo_run):
    out, summary, stderr = photo_run
    cfg = (out / "config.yaml").read_text()
    assert "name: efficientnet-lite0" in cfg and "freeze: true" in cfg
    assert "image_size: 224" in cfg and "image_fit: crop" in cfg and "channels: 3" in cfg
    assert "flip: false" in cfg and "crop_area: 0.0" in cfg  # mirrored maps measured worse (benchmarks/DEFAULTS.md)
    assert "image samples encoded once" in stderr
    meta = json.loads((out / "model" / "lamina.json").read_text())
    assert meta["preprocessing"]["fit"] == "crop" and meta["preprocessing"]["mean"] == [127.5] * 3
    assert summary["export"]["parity"]["argmax_equal"] and summary["export"]["parity"]["max_abs_diff"] <= 1e-4
    # 9 test glyphs say little about quality (benchmarks/photos.py does); the head must at least fit its training split
    r = run_cli("evaluate", out, json.loads((out / "data.json").read_text())["path"], "--split", "train", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["accuracy"] >= 0.9


def test_exif_rotation_is_applied():
    from skimage import data

    from lamina.data.image import ImagePreprocess, load_image

    prep = ImagePreprocess(224, 3, fit="crop")
    upright = load_image(Image.fromarray(data.chelsea()), prep)
    turned = load_image(_sideways_jpeg(), prep)
    assert np.abs(upright.astype(int) - turned.astype(int)).mean() < 6  # the same picture, up to JPEG loss


def test_served_photo_answer_equals_lamina_predict(photo_run, tmp_path):
    out, _, _ = photo_run
    photo = tmp_path / "IMG_2041.JPG"
    photo.write_bytes(_sideways_jpeg())
    r = run_cli("predict", out, photo, "--json", "--top-k", "3")
    assert r.returncode == 0, r.stderr
    want = json.loads(r.stdout)["predictions"][0]
    with Server(out) as s:
        got = httpx.post(f"{s.url}/predict/photos?top_k=3", content=photo.read_bytes(), timeout=60).json()[
            "predictions"
        ][0]
    assert got["label"] == want["label"]
    assert [t["label"] for t in got["top_k"]] == [t["label"] for t in want["top_k"]]
    assert all(abs(a["score"] - b["score"]) <= 1e-4 for a, b in zip(got["top_k"], want["top_k"]))


def test_sixteen_bit_and_palette_images_decode(tmp_path):
    from lamina.data.image import ImagePreprocess, load_image

    ramp = np.arange(64, dtype=np.uint16).reshape(8, 8) * 1024  # 0..64512: 16-bit values
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    gray = load_image(tmp_path / "deep.png", ImagePreprocess(8, 1))
    assert gray.max() >= 250 and gray.min() == 0 and len(np.unique(gray)) == 64  # scaled, not clipped to white
    Image.fromarray(np.uint8(ramp // 257)).convert("P").save(tmp_path / "palette.png")
    assert load_image(tmp_path / "palette.png", ImagePreprocess(8, 3)).shape == (8, 8, 3)


def test_fine_tuning_gets_random_resized_crops_and_flips_unless_set(photos, tmp_path):
    r = run_cli(
        "train",
        photos,
        "--output",
        tmp_path / "ft",
        "--set",
        "model.freeze=false",
        "--set",
        "train.epochs=1",
        "--set",
        "data.image_size=64",
        "--set",
        "data.augment.flip=false",
    )
    assert r.returncode == 0, r.stderr
    cfg = (tmp_path / "ft" / "config.yaml").read_text()
    assert "crop_area: 0.25" in cfg and "flip: false" in cfg and "translate: 0.0" in cfg and "freeze: false" in cfg
    assert "encoded once" not in r.stderr  # the whole network trains


def test_a_second_run_reads_the_backbone_features_from_the_cache(photo_run, photos, tmp_path):
    import os
    import time

    out, summary, _ = photo_run
    counts = json.loads((out / "data.json").read_text())["counts"]
    seen = sum(sum(counts[s].values()) for s in ("train", "val"))
    # one row per image the backbone encoded
    index = [
        p
        for p in (Path(os.environ["LAMINA_CACHE_DIR"]) / "features").glob("*224x3-crop*/index.json")
        if len(json.loads(p.read_text())) == seen
    ]
    assert len(index) == 1
    maps = index[0].parent / "data.f16"  # block 14's maps, 192 x 7 x 7 a picture, kept at half precision
    assert index[0].parent.name.endswith("-f16") and maps.stat().st_size == seen * 192 * 7 * 7 * 2
    stamp = index[0].stat().st_mtime
    time.sleep(0.01)
    r = run_cli("train", photos, "--output", tmp_path / "again", "--json")
    assert r.returncode == 0, r.stderr
    assert index[0].stat().st_mtime == stamp  # nothing new was encoded
    assert json.loads(r.stdout)["metrics"]["val"]["accuracy"] == summary["metrics"]["val"]["accuracy"]
    r = run_cli("train", photos, "--output", tmp_path / "mirrored", "--json", "--set", "data.augment.flip=true")
    assert r.returncode == 0, r.stderr
    assert index[0].stat().st_mtime == stamp  # the same cached maps, mirrored in training: a different head
    assert json.loads(r.stdout)["metrics"]["val"]["loss"] != summary["metrics"]["val"]["loss"]


def test_grad_cam_points_at_the_glyph_not_the_background(photo_run, photos):
    """Grad-CAM on the backbone's last feature map (7 x 7 at 224 px): its mass lies on the glyph's pixels, and
    integrated gradients (the default) answer the same label with a map of the same size."""
    glyph = sorted(photos.rglob("*.png"))[0]
    r = run_cli("explain", photo_run[0], glyph, "--method", "grad-cam", "--json")
    assert r.returncode == 0, r.stderr
    cam = json.loads(r.stdout)["explanations"][0]
    heat = np.asarray(cam["map"])
    assert cam["method"] == "grad-cam" and heat.shape == (224, 224) and heat.min() >= 0 and heat.max() > 0
    with Image.open(glyph) as img:
        alpha = np.asarray(img.convert("RGBA").resize((224, 224)))[..., 3] > 0  # the glyph, on a clear ground
    assert heat[alpha].mean() > heat[~alpha].mean()
    r = run_cli("explain", photo_run[0], glyph, "--json")
    assert r.returncode == 0, r.stderr
    ig = json.loads(r.stdout)["explanations"][0]
    assert ig["method"] == "integrated-gradients" and ig["label"] == cam["label"]
    assert np.asarray(ig["map"]).shape == (224, 224)


def test_the_frozen_backbone_s_head_is_timed_against_the_budget(photos, tmp_path):
    # the head trains the last block on the frozen maps: a budget far below 30 epochs' worth (a slow machine) cuts them
    r = run_cli("train", photos, "--output", tmp_path / "slow", "--json", "--set", "train.time_budget=0.05")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["epochs"] == 1 and "encoded once" in r.stderr
    probe = json.loads((tmp_path / "slow" / "run.json").read_text())["epoch_budget"]
    assert probe["auto_epochs"] == 30 and probe["epochs"] == 1
