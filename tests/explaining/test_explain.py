"""`lamina explain`: occlusion maps for every modality through ONNX Runtime, drawn over their inputs, and the two
sanity checks of attribution maps on trained models of images, audio and text:

- model randomisation (Adebayo et al., 2018): the maps of the trained network and of the same graph with
  re-initialised weights rank the parts differently (mean Spearman correlation below 0.5);
- deletion: hiding the most important fifth of an input lowers the answer's score more than hiding a random fifth,
  on at least 80% of the correctly answered samples.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import run_cli
from lamina.common.files import sha256_file
from lamina.data.occluders import evidence
from lamina.explaining.explain import part_drops
from lamina.data.occluders import OCCLUDERS
from lamina.serve.predictor import OnnxPredictor

SAMPLES = 12  # per check: inputs explained


def _randomised(package: Path, where: Path, seed: int = 0) -> Path:
    """A copy of ``package`` whose graph's weights (float initializers of rank >= 2) are drawn afresh as a network's
    are at initialisation (He: std sqrt(2 / fan-in)), its digests updated so it loads."""
    import onnx
    from onnx import numpy_helper

    copy = shutil.copytree(package, where)
    model = onnx.load(str(copy / "model.onnx"))
    rng = np.random.default_rng(seed)
    for init in model.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype == np.float32 and w.ndim >= 2:
            fan_in = int(np.prod(w.shape[1:]))
            fresh = rng.normal(0, np.sqrt(2.0 / fan_in), w.shape).astype(np.float32)
            init.CopyFrom(numpy_helper.from_array(fresh, init.name))
    onnx.save(model, str(copy / "model.onnx"))
    meta = json.loads((copy / "lamina.json").read_text())
    meta["export"]["sha256"] = meta["files"]["model.onnx"] = sha256_file(copy / "model.onnx")
    (copy / "lamina.json").write_text(json.dumps(meta))
    return copy


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    a, b = np.nan_to_num(a, posinf=1e9, neginf=-1e9), np.nan_to_num(b, posinf=1e9, neginf=-1e9)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


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


def _deletion_units(occluder, x: np.ndarray, parts: list, drops: np.ndarray, prep) -> tuple[list, np.ndarray]:
    """What the deletion check removes a fifth of, with each one's attribution: an image's pixels by its map (its
    patches overlap, so a fifth of them covers less than a fifth of the picture), else the occluded parts."""
    if x.ndim != 4:
        return parts, drops
    heat = np.asarray(occluder.attribution(drops, parts, x, prep))
    pixels = [(r, c, 1) for r in range(heat.shape[0]) for c in range(heat.shape[1])]  # 1-pixel patches
    return pixels, heat.ravel()


@pytest.fixture
def trained(request, digits_run, kws_embedding_run, fasttext_run):
    return {"image": digits_run, "audio": kws_embedding_run[0], "text": fasttext_run[0]}[request.param]


@pytest.mark.parametrize("trained", ["image", "audio", "text"], indirect=True)
def test_maps_pass_the_randomisation_and_deletion_checks(trained, digits, kws, corpus, tmp_path):
    kind = OnnxPredictor.load(trained).modality
    predictor = OnnxPredictor.load(trained)
    random_net = OnnxPredictor.load(_randomised(trained / "model", tmp_path / "random"))
    occluder = OCCLUDERS[kind]
    rng = np.random.default_rng(0)
    correlations, deletion_wins, answered = [], 0, 0
    for item, truth in _inputs(kind, digits, kws, corpus):
        x = predictor.encode([item])
        target, score, parts, drops = part_drops(predictor, x)
        correlations.append(_rank_correlation(drops, part_drops(random_net, x)[3]))
        if predictor.labels[target] != truth:
            continue  # deletion is checked on the samples answered right
        answered += 1
        units, values = _deletion_units(occluder, x, parts, drops, predictor.prep)
        fifth = max(1, round(0.2 * len(units)))
        top = [units[i] for i in np.argsort(-values, kind="stable")[:fifth]]
        chance = [units[i] for i in rng.choice(len(units), fifth, replace=False)]
        after_top = evidence(predictor.scores(occluder.hide(x, top, predictor.prep)), target, "classification")[0]
        after_chance = evidence(predictor.scores(occluder.hide(x, chance, predictor.prep)), target, "classification")[0]
        deletion_wins += after_top < after_chance
    assert np.mean(correlations) < 0.5, correlations
    assert answered >= SAMPLES // 2 and deletion_wins >= 0.8 * answered, (deletion_wins, answered)


def test_explain_draws_an_image_map_with_the_region_the_model_saw(digits_run, digits, tmp_path):
    from PIL import Image

    picture = sorted((digits / "test" / "3").glob("*.png"))[0]
    r = run_cli("explain", digits_run, picture, "--output", tmp_path / "maps", "--json")
    assert r.returncode == 0, r.stderr
    (record,) = json.loads(r.stdout)["explanations"]
    size = json.loads((digits_run / "model" / "lamina.json").read_text())["preprocessing"]["size"]
    assert record["method"] == "occlusion" and record["input"] == str(picture)
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
    heat = np.asarray(json.loads(r.stdout)["explanations"][0]["map"])
    meta = json.loads((kws_run[0] / "model" / "lamina.json").read_text())["preprocessing"]
    assert heat.shape[0] == meta["n_mels"] and heat.shape[1] > 50  # mel bands x 10 ms frames of a 1 s clip

    r = run_cli("explain", fasttext_run[0], "the goalkeeper saved a penalty", "--output", tmp_path / "t", "--json")
    assert r.returncode == 0, r.stderr
    record = json.loads(r.stdout)["explanations"][0]
    assert [t for t, _ in record["map"]] and all(isinstance(v, float) for _, v in record["map"])
    assert "<span" in Path(record["files"]["map"]).read_text()


def test_explain_a_table_row_names_its_columns(wine_table, tmp_path):
    run = tmp_path / "wine"
    r = run_cli("train", wine_table, "--output", run, "--json", "--set", "train.epochs=20")
    assert r.returncode == 0, r.stderr
    row = {"alcohol": 13.2, "malic_acid": 1.8, "color_intensity": 5.1, "proline": 1050, "flavanoids": 2.9}
    r = run_cli("explain", run, json.dumps(row), "--json")
    assert r.returncode == 0, r.stderr
    columns = [c for c, _ in json.loads(r.stdout)["explanations"][0]["map"]]
    read = json.loads((run / "model" / "lamina.json").read_text())["preprocessing"]["columns"]
    assert columns == [c["name"] for c in read]
