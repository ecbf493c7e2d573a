"""Temperature scaling: the search finds the temperature that made the labels, the ECE measures what it should, and
a trained classifier's package serves the calibrated probabilities its metrics describe."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from helpers import run_cli
from lamina.training.calibration import fit_temperature, reliability


def _draw_labels(logits: np.ndarray, temperature: float, rng) -> np.ndarray:
    p = np.exp(logits / temperature - (logits / temperature).max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return np.array([rng.choice(len(row), p=row) for row in p])


@pytest.mark.parametrize("true_t", [0.5, 2.5])
def test_the_fit_recovers_the_temperature_that_drew_the_labels(true_t):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (6000, 4))
    y = _draw_labels(logits, true_t, rng)
    assert fit_temperature(logits, y, "classification") == pytest.approx(true_t, rel=0.08)


def test_a_multilabel_temperature_is_fit_through_the_sigmoids():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 4, (3000, 3))
    y = (rng.random(logits.shape) < 1 / (1 + np.exp(-logits / 3.0))).astype(np.float32)
    assert fit_temperature(logits, y, "multilabel") == pytest.approx(3.0, rel=0.1)


def test_ece_is_near_zero_when_confidence_matches_accuracy_and_large_when_it_does_not():
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 2, (20000, 3))
    y = _draw_labels(logits, 1.0, rng)
    honest = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    sharp = np.exp(4 * logits) / np.exp(4 * logits).sum(1, keepdims=True)  # the same ranking, overconfident
    assert reliability(honest, y, "classification")["ece"] < 0.02
    overconfident = reliability(sharp, y, "classification")
    assert overconfident["ece"] > 0.1
    assert sum(b["count"] for b in overconfident["bins"]) == len(y)
    assert all(b["confidence"] > b["accuracy"] for b in overconfident["bins"] if b["count"] > 200)


NOISE = 0.05  # share of labels drawn at random: with 25%, label smoothing 0.4's 0.8 was about the accuracy itself


def _noisy_table(path, rows: int = 2000, seed: int = 0):
    """Two informative numbers, ten noise columns and NOISE of the labels drawn at random."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*(f"x{i}" for i in range(12)), "label"])
        for _ in range(rows):
            x = rng.normal(0, 1, 12)
            label = int(x[0] + x[1] > 0) if rng.random() > NOISE else int(rng.integers(0, 2))
            w.writerow([*(f"{v:.4f}" for v in x), ["no", "yes"][label]])
    return path


def test_a_trained_classifier_serves_calibrated_probabilities(tmp_path):
    table = _noisy_table(tmp_path / "noisy.csv")
    run = tmp_path / "run"
    # heavy label smoothing trains an underconfident network: a temperature below 1 sharpens it
    r = run_cli("train", table, "--output", run, "--json", "--set", "train.label_smoothing=0.4")
    assert r.returncode == 0, r.stderr
    metrics = json.loads(r.stdout)["metrics"]
    meta = json.loads((run / "model" / "lamina.json").read_text())
    temperature = meta["task"]["temperature"]
    assert temperature < 0.8 and metrics["val"]["temperature"] == temperature
    assert metrics["test"]["ece"] < 0.75 * metrics["test"]["ece_uncalibrated"]  # held out: calibration generalised
    # the package's probabilities are the calibrated ones: evaluate reads them through the exported graph
    r = run_cli("evaluate", run, table, "--split", "test", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ece"] == pytest.approx(metrics["test"]["ece"], abs=1e-3)
    report = (run / "report.html").read_text()
    assert "Calibration (test)" in report and f"Temperature {temperature:.3f}" in report
