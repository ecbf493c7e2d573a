"""report.html: drawn in a real headless Chromium, and the pieces it is built from."""

import io

import numpy as np

from lamina.data.task import Task

from helpers import chromium_driver, run_cli
from lamina.training import charts, report


def _screenshot_is_drawn(png: bytes) -> bool:
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32)
    return img.std() > 10 and (img < 128).mean() > 0.01  # not a blank page: dark strokes on white


def _check_page(path, n_labels: int, lines_drawn: int):
    from selenium.webdriver.common.by import By

    driver = chromium_driver()
    try:
        driver.get(path.resolve().as_uri())
        assert driver.title
        lines = driver.find_elements(By.CSS_SELECTOR, "svg.chart polyline.series")
        assert len(lines) == lines_drawn
        curves = driver.find_elements(By.CSS_SELECTOR, "svg.chart:not([aria-label^='reliability']) polyline.series")
        for line in curves:  # a reliability diagram's series may be one bin (a sure model): a dot, not a line
            assert len(line.get_attribute("points").split()) >= 2
            assert line.size["width"] > 100  # drawn across the chart, not collapsed
        perfect = driver.find_elements(By.CSS_SELECTOR, "svg.chart[aria-label^='reliability'] polyline.series")[:1]
        assert all(line.size["width"] > 100 for line in perfect)  # the diagonal spans the reliability diagram
        assert len(driver.find_elements(By.CSS_SELECTOR, "svg.confusion rect.cell")) == n_labels**2
        thumbs = driver.find_elements(By.CSS_SELECTOR, ".mistake img")
        assert all(driver.execute_script("return arguments[0].naturalWidth", t) > 0 for t in thumbs)
        assert _screenshot_is_drawn(driver.get_screenshot_as_png())
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        driver.quit()


def test_training_report_renders_in_chromium(digits_run):
    page = digits_run / "report.html"
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # self-contained: nothing fetched
    data_json = (digits_run / "data.json").read_text()
    assert __import__("json").loads(data_json)["fingerprint"] in text
    # train/val loss and train/val accuracy; the reliability diagram: perfect, before and after calibration
    _check_page(page, 10, lines_drawn=4 + 3)


def test_evaluate_report_renders_in_chromium(digits_run, digits, tmp_path):
    out = tmp_path / "eval.html"
    r = run_cli("evaluate", digits_run, digits, "--split", "test", "--report", out, "--json")
    assert r.returncode == 0, r.stderr
    assert __import__("json").loads(r.stdout)["report"] == str(out)
    _check_page(out, 10, lines_drawn=4)  # the run's curves; a package's evaluation fits no temperature


def test_worst_mistakes_are_the_most_confident_wrong_ones():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]])
    y = np.array([0, 0, 0, 1])
    ms = report.worst_mistakes(Task("classification", ["x", "y"]), probs, y, ["a", "b", "c", "d"], lambda i: "")
    assert [(m.key, m.predicted, m.true) for m in ms] == [("b", "y", "x"), ("d", "x", "y"), ("c", "y", "x")]


def test_worst_mistakes_of_multilabel_and_regression():
    multi = Task("multilabel", ["x", "y"], thresholds=[0.5, 0.5])
    scores = np.array([[0.9, 0.1], [0.9, 0.9], [0.1, 0.4]])
    ms = report.worst_mistakes(
        multi, scores, np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), ["a", "b", "c"], lambda i: ""
    )
    # b is 0.9 off, c 0.7
    assert [(m.key, m.predicted, m.true) for m in ms] == [
        ("b", "x; y", "x"),
        ("c", "(none)", "y"),
    ]
    reg = report.worst_mistakes(
        Task("regression", ["v"]),
        np.array([[1.0], [5.0], [2.5]]),
        np.array([1.0, 2.0, 2.0]),
        ["a", "b", "c"],
        lambda i: "",
    )
    assert [m.key for m in reg] == ["b", "c", "a"] and reg[0].confidence is None and reg[0].predicted == "5"


def test_curves_take_each_epochs_last_train_line_and_skip_final_lines():
    rows = [
        {"epoch": 0, "split": "train", "loss": 2.0, "accuracy": 0.1},
        {"epoch": 0, "split": "train", "loss": 1.5, "accuracy": 0.3},
        {"epoch": 0, "split": "val", "loss": 1.4, "accuracy": 0.4},
        {"epoch": 0, "split": "val", "final": True, "loss": 9, "accuracy": 0},
    ]
    loss, acc = report.curves(rows)
    assert loss == {"train loss": [(1, 1.5)], "val loss": [(1, 1.4)]} and acc["val accuracy"] == [(1, 0.4)]


def test_labels_are_escaped():
    svg = charts.confusion_svg([[1, 0], [0, 1]], ["<script>", "b&c"])
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "b&amp;c" in svg


def test_mistakes_get_their_maps_within_the_time_budget(digits_run, digits, monkeypatch):
    """Each mistake the report shows gets the integrated-gradients map of the answer it gave, drawn over the
    picture, until the budget is spent."""
    import torch

    from lamina.data.prepared import SplitData
    from lamina.models.package import Predictor
    from lamina.training import mistake_maps

    predictor = Predictor.load(digits_run)
    pictures = sorted((digits / "test").rglob("*.png"))[:3]
    stored = predictor.encode([str(p) for p in pictures])
    split = SplitData(stored, torch.zeros(3, dtype=torch.int64), [p.name for p in pictures], "image")
    maps = mistake_maps.mistake_maps(
        predictor.model, predictor.prep, predictor.task, predictor.labels, None, split, None
    )
    assert all(maps(i).startswith('<img class="map"') for i in range(3))
    monkeypatch.setattr(mistake_maps, "BUDGET_S", 0.0)
    spent = mistake_maps.mistake_maps(
        predictor.model, predictor.prep, predictor.task, predictor.labels, None, split, None
    )
    assert spent(0) == ""


def test_a_mistake_s_occlusion_map_scored_by_torch_equals_lamina_explain_s(fasttext_run):
    """Texts are explained by occlusion (their preferred method); the report scores the occluded copies with the
    torch network, and its map is the one ``lamina explain`` gets through ONNX Runtime."""
    import json
    from types import SimpleNamespace

    from lamina.data.occluders import OCCLUDERS
    from lamina.models.modality import torch_modality
    from lamina.models.package import Predictor
    from lamina.training.mistake_maps import _occlusion

    text = "the striker scored twice in the second half"
    r = run_cli("explain", fasttext_run[0], text, "--method", "occlusion", "--json")
    assert r.returncode == 0, r.stderr
    cli = json.loads(r.stdout)["explanations"][0]
    p = Predictor.load(fasttext_run[0])
    twin = torch_modality(p.prep)
    served = SimpleNamespace(labels=p.labels, task=p.task, prep=p.prep, tokenizer=p.tokenizer)
    found = _occlusion(p.model, twin, OCCLUDERS["text"], twin.served(p.encode([text])), served)
    assert found["label"] == cli["label"] and [t for t, _ in found["map"]] == [t for t, _ in cli["map"]]
    assert np.allclose([v for _, v in found["map"]], [v for _, v in cli["map"]], atol=1e-3)
