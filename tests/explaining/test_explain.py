"""`lamina explain`: occlusion maps for every modality through ONNX Runtime and gradient maps (integrated gradients;
Grad-CAM on request) where the network has them, drawn over their inputs, and the two sanity checks
(lamina.explaining.sanity: model randomisation, deletion) of occlusion and integrated gradients on trained
models of images, audio and text.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import run_cli
from lamina.explaining.sanity import sanity_figures
from lamina.serve.predictor import OnnxPredictor

SAMPLES = 12  # per check: inputs explained


def _inputs(kind: str, digits, kws, corpus) -> list[tuple[str, str]]:
    """SAMPLES (input, its true label) spread over the labels."""
    if kind == "image":
        files = sorted((digits / "test").rglob("*.png"))[::30]
    elif kind == "audio":
        files = sorted(p for p in kws.rglob("*.wav") if p.parent.name not in ("_background_noise_", "_silence_"))
        files = files[:: max(1, len(files) // SAMPLES)]
    else:
        import csv

        with open(corpus, newline="") as f:
            return [(row["text"], row["label"]) for row in csv.DictReader(f)][::7][:SAMPLES]
    return [(str(p), p.parent.name) for p in files[:SAMPLES]]


@pytest.fixture
def trained(request, digits_run, kws_embedding_run, fasttext_run):
    return {"image": digits_run, "audio": kws_embedding_run[0], "text": fasttext_run[0]}[request.param]


@pytest.mark.parametrize("method", ["occlusion", "integrated-gradients"])
@pytest.mark.parametrize("trained", ["image", "audio", "text"], indirect=True)
def test_maps_pass_the_randomisation_and_deletion_checks(trained, method, digits, kws, corpus, tmp_path):
    kind = OnnxPredictor.load(trained).modality
    figures = sanity_figures(trained, _inputs(kind, digits, kws, corpus), method, tmp_path)
    assert figures["correlation"] < 0.5, figures
    assert figures["answered"] >= SAMPLES // 2 and figures["deletion_wins"] >= 0.8 * figures["answered"], figures


def test_explain_draws_an_image_map_with_the_region_the_model_saw(digits_run, digits, tmp_path):
    from PIL import Image

    picture = sorted((digits / "test" / "3").glob("*.png"))[0]
    r = run_cli("explain", digits_run, picture, "--output", tmp_path / "maps", "--json")
    assert r.returncode == 0, r.stderr
    (record,) = json.loads(r.stdout)["explanations"]
    size = json.loads((digits_run / "model" / "lamina.json").read_text())["preprocessing"]["size"]
    assert record["method"] == "integrated-gradients" and record["input"] == str(picture)  # the default for images
    assert np.asarray(record["map"]).shape == (size, size)
    with Image.open(picture) as img:
        assert record["box"] == [0, 0, img.width, img.height]  # digits are squashed, not cropped: all of it
    with Image.open(record["files"]["map"]) as drawn:
        assert min(drawn.size) >= 224  # enlarged to be seen
    assert json.loads(Path(record["files"]["json"]).read_text())["label"] == record["label"]


def test_explain_answers_for_audio_text_and_table_rows(kws_run, kws, fasttext_run, tmp_path):
    clip = sorted((kws / "yes").glob("*.wav"))[0]
    r = run_cli("explain", kws_run[0], clip, "--json")
    assert r.returncode == 0, r.stderr
    record = json.loads(r.stdout)["explanations"][0]
    heat = np.asarray(record["map"])
    assert record["method"] == "occlusion"  # audio's default: it passed the deletion check more often
    meta = json.loads((kws_run[0] / "model" / "lamina.json").read_text())["preprocessing"]
    assert heat.shape[0] == meta["n_mels"] and heat.shape[1] > 50  # mel bands x 10 ms frames of a 1 s clip

    text = "the goalkeeper saved a penalty"
    r = run_cli(
        "explain", fasttext_run[0], text, "--method", "integrated-gradients", "--output", tmp_path / "t", "--json"
    )
    assert r.returncode == 0, r.stderr
    record = json.loads(r.stdout)["explanations"][0]
    assert record["method"] == "integrated-gradients"
    words = "".join(t.removeprefix("##") if t.startswith("##") else " " + t for t, _ in record["map"])
    # every word-piece in order, up to the model's max_tokens
    assert "the goalkeeper saved a penalty".startswith(words.strip()) and len(words.split()) >= 4
    assert all(isinstance(v, float) for _, v in record["map"])
    assert "<span" in Path(record["files"]["map"]).read_text()


def test_explain_a_table_row_names_its_columns(wine_table, tmp_path):
    run = tmp_path / "wine"
    r = run_cli("train", wine_table, "--output", run, "--json", "--set", "train.epochs=20")
    assert r.returncode == 0, r.stderr
    row = {"alcohol": 13.2, "malic_acid": 1.8, "color_intensity": 5.1, "proline": 1050, "flavanoids": 2.9}
    row |= {"hue": None, "grade": "deep", "cellar": "north", "notes": "dark fruit"}
    r = run_cli("explain", run, json.dumps(row), "--json")
    assert r.returncode == 0, r.stderr
    record = json.loads(r.stdout)["explanations"][0]
    assert record["method"] == "occlusion"  # tables have no gradient map
    columns = [c for c, _ in record["map"]]
    read = json.loads((run / "model" / "lamina.json").read_text())["preprocessing"]["columns"]
    assert columns == [c["name"] for c in read]


def test_grad_cam_is_refused_where_the_last_feature_map_is_too_coarse(digits_run, digits):
    picture = sorted((digits / "test" / "3").glob("*.png"))[0]
    r = run_cli("explain", digits_run, picture, "--method", "grad-cam")
    assert r.returncode == 2 and "no grad-cam map" in r.stderr and "--method occlusion" in r.stderr
