"""Multi-label and regression end to end, for text, images and audio: train (zero-config task detection),
evaluate, predict, export with parity, serve; the served answer equals `lamina predict`'s."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from helpers import Server, cli_fails, run_cli, topic_texts, write_png, write_text_csv


def _multilabel_texts(path: Path, seed: int = 0) -> Path:
    """Topic sentences; half of them joined with a sentence of another topic and labelled with both ('a; b')."""
    rows = topic_texts(per_class=50, seed=seed)
    rng = np.random.default_rng(seed)
    out = []
    for i, (text, label) in enumerate(rows):
        if rng.random() < 0.5:
            other = next(r for r in rows[i + 1 :] + rows[:i] if r[1] != label)
            out.append((f"{text} {other[0]}", f"{label}; {other[1]}"))
        else:
            out.append((text, label))
    return write_text_csv(path, out, header=("text", "labels"))


def _regression_texts(path: Path) -> Path:
    """Topic sentences with a number: the topic's base value plus noise (more than 20 distinct values)."""
    rng = np.random.default_rng(1)
    base = {"sports": 10.0, "food": 20.0, "computers": 30.0}
    rows = [(text, f"{base[label] + rng.uniform(-1, 1):.2f}") for text, label in topic_texts(per_class=50, seed=1)]
    return write_text_csv(path, rows, header=("text", "score"))


def _manifest(path: Path, rows: list[tuple[str, str]], header=("path", "labels")) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _multilabel_images(root: Path) -> Path:
    """16x16 colour images with a red square top left, a green one bottom right, either, both or none."""
    rng = np.random.default_rng(2)
    rows = []
    for i in range(160):
        img = rng.integers(0, 40, (16, 16, 3), dtype=np.uint8)
        tags = [t for t in ("red", "green") if rng.random() < 0.5]
        if "red" in tags:
            img[1:7, 1:7, 0] = 230
        if "green" in tags:
            img[9:15, 9:15, 1] = 230
        write_png(root / f"{i:03d}.png", img)
        rows.append((f"{i:03d}.png", "|".join(tags)))
    return _manifest(root / "tags.csv", rows)


def _regression_images(root: Path) -> Path:
    """12x12 grey images whose brightness (plus noise) is the target, 0-100."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(200):
        value = float(rng.uniform(0, 100))
        img = np.clip(value * 2.2 + rng.normal(0, 12, (12, 12)), 0, 255).astype(np.uint8)
        write_png(root / f"{i:03d}.png", img)
        rows.append((f"{i:03d}.png", f"{value:.3f}"))
    return _manifest(root / "brightness.csv", rows, header=("path", "target"))


def _tone_clips(root: Path, regression: bool) -> Path:
    """1 s 16 kHz WAVs: tones (multi-label: which of 440, 1,000 and 2,500 Hz sound; regression: the pitch in Hz)."""
    from lamina.data.audio import write_wav

    rng = np.random.default_rng(4)
    t = np.arange(16000) / 16000
    rows = []
    for i in range(120):
        if regression:
            freq = float(rng.uniform(300, 3000))
            x, target = np.sin(2 * np.pi * freq * t), f"{freq:.1f}"
        else:
            tags = [f for f in (440, 1000, 2500) if rng.random() < 0.5]
            x = sum((np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in tags), np.zeros_like(t))
            target = ";".join(f"hz{f}" for f in tags)
        x = 0.3 * x / max(1.0, np.abs(x).max()) + rng.normal(0, 0.01, t.shape)
        write_wav(root / f"{i:03d}.wav", (x * 32767).astype(np.int16), 16000)
        rows.append((f"{i:03d}.wav", target))
    return _manifest(root / "tones.csv", rows, header=("path", "target" if regression else "labels"))


CASES = {  # name -> (data builder, training options, the task, modality)
    "text-multilabel": (
        _multilabel_texts,
        ["--set", "model.name=fasttext", "--set", "train.epochs=25", "--set", "train.batch_size=16"],
        "multilabel",
        "text",
    ),
    "text-regression": (
        _regression_texts,
        ["--set", "model.name=fasttext", "--set", "train.epochs=25", "--set", "train.batch_size=16"],
        "regression",
        "text",
    ),
    "image-multilabel": (
        _multilabel_images,
        ["--set", "model.name=mlp", "--set", "train.epochs=25"],
        "multilabel",
        "image",
    ),
    "image-regression": (
        _regression_images,
        ["--set", "model.name=mlp", "--set", "train.epochs=30"],
        "regression",
        "image",
    ),
    "audio-multilabel": (lambda p: _tone_clips(p, False), ["--set", "train.epochs=25"], "multilabel", "audio"),
    "audio-regression": (lambda p: _tone_clips(p, True), ["--set", "train.epochs=30"], "regression", "audio"),
}


def _inputs(data: Path, modality: str) -> list[str]:
    if modality == "text":
        with open(data, newline="", encoding="utf-8") as f:
            return [r["text"] for r in list(csv.DictReader(f))[:3]]
    return [str(p) for p in sorted(data.parent.glob("*.png" if modality == "image" else "*.wav"))[:3]]


@pytest.mark.parametrize("case", sorted(CASES))
def test_task_end_to_end(case, tmp_path):
    build, options, task, modality = CASES[case]
    target = tmp_path / "data.csv" if modality == "text" else tmp_path / "data"
    if modality != "text":
        target.mkdir()
    data = build(target)
    out = tmp_path / "run"
    r = run_cli("train", data, "--output", out, "--json", *options)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)
    assert f"task: {task}" in (out / "config.yaml").read_text()
    meta = json.loads((out / "model" / "lamina.json").read_text())
    assert meta["task"]["kind"] == task and meta["export"]["parity"]["max_abs_diff"] <= 1e-4
    test = summary["metrics"]["test"]
    if task == "multilabel":
        assert set(test) >= {"micro_f1", "macro_f1", "samples_f1", "mean_average_precision", "subset_accuracy", "n"}
        # it learns: predicting every label scores micro-F1 ~0.67 and mAP ~0.5 here
        assert test["mean_average_precision"] > 0.85 and test["micro_f1"] > 0.75, test
        assert len(meta["task"]["thresholds"]) == len(meta["labels"])
    else:
        assert set(test) >= {"mae", "rmse", "r2", "n"} and test["r2"] > 0.5, test
        assert meta["export"]["output"]["name"] == "value"
    ev = run_cli("evaluate", out, data, "--split", "test", "--json", "--report", out / "eval.html")
    assert ev.returncode == 0, ev.stderr
    figures = json.loads(ev.stdout)
    key = "micro_f1" if task == "multilabel" else "mae"
    assert figures[key] == pytest.approx(test[key], rel=1e-4, abs=1e-4)
    if task == "multilabel":
        assert set(figures["per_label"][meta["labels"][0]]) == {
            "precision",
            "recall",
            "f1",
            "ap",
            "support",
            "threshold",
        }
    page = (out / "report.html").read_text()
    assert (
        ("Precision-recall" in page and "Per label" in page)
        if task == "multilabel"
        else ("predicted against true" in page and "residuals" in page)
    )
    inputs = _inputs(data, modality)
    pr = run_cli("predict", out, *inputs, "--json")
    assert pr.returncode == 0, pr.stderr
    expected = json.loads(pr.stdout)["predictions"]
    assert all(
        ("labels" in p and "scores" in p) if task == "multilabel" else isinstance(p["value"], float) for p in expected
    )
    with Server(out) as server, httpx.Client(base_url=server.url) as http:
        for item, want in zip(inputs, expected):
            body = item.encode() if modality == "text" else Path(item).read_bytes()
            got = http.post("/predict/run", content=body).json()["predictions"][0]
            if task == "multilabel":
                assert got["labels"] == want["labels"]
                assert got["scores"] == pytest.approx(want["scores"], abs=1e-4)
            else:
                assert got["value"] == pytest.approx(want["value"], abs=1e-4 * meta["task"]["std"])
        metadata = http.get("/v2/models/run").json()
        assert [o["name"] for o in metadata["outputs"]] == (
            ["probabilities", "label"] if task == "multilabel" else ["value"]
        )
        assert metadata["parameters"]["task"]["kind"] == task


def test_bad_targets_are_named(tmp_path, capsys):
    rows = [(f"text number {i} about things", f"{i * 1.5:.1f}") for i in range(30)]
    rows[7] = ("text seven", "seven")
    data = write_text_csv(tmp_path / "t.csv", rows, header=("text", "value"))
    err = cli_fails(capsys, "train", data, "--output", tmp_path / "r", "--set", "data.task=regression")
    assert "row 9: target 'seven' is not a number" in err  # the header is row 1
    rows[7] = ("text seven", "10.5")
    data = write_text_csv(tmp_path / "t.csv", rows, header=("text", "value"))
    err = cli_fails(capsys, "train", data, "--output", tmp_path / "r2", "--set", "train.monitor=accuracy")
    assert "a regression task has no 'accuracy'" in err  # auto: 30 distinct numbers make it regression


def test_multilabel_label_only_in_test_is_an_error(tmp_path, capsys):
    rows = [(f"sports words {i}", "sports; food") for i in range(10)] + [("odd one", "weather")]
    data = write_text_csv(
        tmp_path / "t.csv",
        [(t, lab, "train") for t, lab in rows[:-1]] + [(rows[-1][0], rows[-1][1], "test")],
        header=("text", "labels", "split"),
    )
    err = cli_fails(capsys, "train", data, "--output", tmp_path / "r")
    assert "labels ['weather'] appear in val/test but not in train" in err


def test_regression_images_are_not_few_per_label_photos(tmp_path):
    """Each target is its own 'label': the few-images-per-label rule must not send small grey images to the photo backbone."""
    from lamina.common.config import Config, DataConfig
    from lamina.training.preparation import choose_image_model

    rng = np.random.default_rng(5)
    rows = []
    for i in range(40):
        write_png(tmp_path / f"{i}.png", rng.integers(0, 255, (20, 20), dtype=np.uint8))
        rows.append((f"{i}.png", f"{rng.uniform(0, 50):.3f}"))
    manifest = _manifest(tmp_path / "m.csv", rows, header=("path", "target"))
    cfg, _ = choose_image_model(Config(data=DataConfig(path=str(manifest))))
    assert cfg.model.name == "resnet-small"
    # few per label: the backbone, as for one label
    rows = [(p, "a; b" if i % 2 else "a") for i, (p, _) in enumerate(rows)]
    cfg, _ = choose_image_model(Config(data=DataConfig(path=str(_manifest(tmp_path / "t.csv", rows)))))
    assert cfg.model.name == "efficientnet-lite0"


def test_whole_number_targets_are_read_as_regression_with_a_warning(tmp_path):
    from lamina.common.config import DataConfig
    from lamina.data.dataset import prepare_training_data

    rows = [(f"request {i} about topic {i % 30}", str(i % 30)) for i in range(150)]  # 30 class ids, or 30 numbers?
    data = write_text_csv(tmp_path / "ids.csv", rows, header=("text", "label"))
    prepared = prepare_training_data(DataConfig(path=str(data)), seed=0)
    assert prepared.task.kind == "regression"
    warning = next(c for c in prepared.checks if c["kind"] == "integer-targets")
    assert "30 distinct whole numbers" in warning["message"] and "data.task=classification" in warning["message"]
    explicit = prepare_training_data(DataConfig(path=str(data), task="classification"), seed=0)
    assert explicit.task.kind == "classification" and len(explicit.labels) == 30
    assert not any(c["kind"] == "integer-targets" for c in explicit.checks)
    rows = [(t, f"{float(v) + 0.5}") for t, v in rows]  # fractions: plainly numbers, no warning
    fractions = prepare_training_data(DataConfig(path=str(write_text_csv(tmp_path / "f.csv", rows))), seed=0)
    assert fractions.task.kind == "regression" and not any(c["kind"] == "integer-targets" for c in fractions.checks)
