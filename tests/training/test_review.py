"""Label review: confident learning finds flipped labels in out-of-fold probabilities, and `lamina review` ranks a
real table's samples with the flipped ones first."""

from __future__ import annotations

import csv
import json

import numpy as np

from helpers import cli_fails, run_cli, topic_texts, write_text_csv
from lamina.training.label_issues import confident_joint, review_ranking, self_confidence_ranking


def _noisy_probabilities(n: int = 2000, k: int = 4, share: float = 0.05, seed: int = 0):
    """Out-of-fold-like probabilities of a decent model (right about 85% of the time, some classes confused with a
    neighbour) and labels of which ``share`` were flipped; (probs, given, flipped)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), truth] += 2.5
    logits[np.arange(n), (truth + 1) % k] += 1.0  # a neighbour class it is sometimes taken for
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    given = truth.copy()
    flipped = rng.choice(n, int(share * n), replace=False)
    given[flipped] = (truth[flipped] + rng.integers(1, k, len(flipped))) % k
    return probs, given, set(flipped.tolist())


def test_confident_learning_finds_flipped_labels_among_honest_mistakes():
    probs, given, flipped = _noisy_probabilities()
    order, issues, suggested = review_ranking(probs, given)
    k = len(flipped)
    found = set(np.flatnonzero(issues).tolist())
    # a fifth of the samples are misclassified honestly: the flagged set is mostly flips all the same (5% at random)
    assert len(found & flipped) / len(found) > 0.3 and len(found & flipped) / k > 0.75
    ours = len(set(order[:k].tolist()) & flipped) / k
    plain = len(set(self_confidence_ranking(probs, given)[:k].tolist()) & flipped) / k
    assert ours >= plain - 0.02 and ours > 0.6
    assert all(suggested[i] != given[i] for i in found)  # a flagged sample is told another label


def test_the_confident_joint_counts_each_confident_sample_once():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    given = np.array([0, 1, 1, 1])
    # thresholds: class 0 mean over given 0 = 0.9; class 1 mean over given 1 = (0.2 + 0.7 + 0.4) / 3
    joint = confident_joint(probs, given)
    assert joint.tolist() == [[1, 0], [0, 1]]  # row 1 is confident of no class; row 3 of class 1 (0.7 >= 0.433)


def _table_with_flips(path, rows: int = 300, flips: int = 15, seed: int = 0) -> set[str]:
    """Three classes as clusters of two numbers, a noise category; ``flips`` labels changed. The flipped rows' keys."""
    rng = np.random.default_rng(seed)
    labels = ["low", "mid", "high"]
    flipped = set(rng.choice(rows, flips, replace=False).tolist())
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["size", "weight", "colour", "label"])
        for i in range(rows):
            y = i % 3
            given = (y + 1 + int(rng.integers(0, 2))) % 3 if i in flipped else y
            x = rng.normal(3.0 * y, 0.6, 2)
            w.writerow([f"{x[0]:.3f}", f"{x[1]:.3f}", rng.choice(["red", "blue"]), labels[given]])
    return {f"row {i + 2}" for i in flipped}  # the header is row 1


def test_lamina_review_ranks_a_tables_flipped_rows_first(tmp_path):
    table = tmp_path / "sizes.csv"
    flipped = _table_with_flips(table)
    out = tmp_path / "review" / "labels.csv"
    r = run_cli("review", table, "--output", out, "--folds", "3", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert summary["samples"] == len(rows) == 300 and summary["folds"] == 3 and summary["repeats"] == 3
    assert list(rows[0]) == ["input", "label", "suggested", "confidence", "suspect", "label_score", "model_score"]
    assert summary["neighbour_weight"] == 0.0  # the table model has no frozen embedding: the folds' opinion alone
    assert all(r["label_score"] == r["model_score"] for r in rows)
    assert len({r["input"] for r in rows}) == 300  # every sample once
    top = {r["input"] for r in rows[: len(flipped)]}
    assert len(top & flipped) >= 0.8 * len(flipped)
    suspects = [r for r in rows if r["suspect"] == "true"]
    assert summary["flagged"] == len(suspects) and all(r["suggested"] != r["label"] for r in suspects)
    page = (tmp_path / "review" / "labels.html").read_text()
    assert "Label review" in page and suspects[0]["input"] in page


def _numbers(path):
    """A regression table: a number and a noisy multiple of it."""
    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x", "target"])
        w.writerows([[f"{v:.3f}", f"{3 * v + rng.normal():.3f}"] for v in rng.normal(0, 1, 120)])
    return path


def test_review_refuses_what_it_cannot_check(tmp_path, capsys):
    table = _numbers(tmp_path / "numbers.csv")
    assert "regression task" in cli_fails(capsys, "review", table, "--output", tmp_path / "r.csv", "--json")
    assert "at least 2 folds" in cli_fails(capsys, "review", table, "--output", tmp_path / "r.csv", "--folds", "1")


def test_a_training_with_review_folds_reports_the_labels_to_check(tmp_path):
    table = tmp_path / "sizes.csv"
    flipped = _table_with_flips(table)
    run = tmp_path / "run"
    r = run_cli("train", table, "--output", run, "--json", "--set", "train.review_folds=3")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)["review"]
    with open(run / "review.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert summary["samples"] == len(rows) == 300 and summary["folds"] == 3 and summary["flagged"] > 0
    report = (run / "report.html").read_text()
    assert "Labels to check" in report and 'href="review.html"' in report
    listed = [r["input"] for r in rows if r["suspect"] == "true"][:20]
    assert all(f"<td>{key}</td>" in report for key in listed)
    assert len(set(listed) & flipped) >= 0.6 * len(listed)  # the report's suspects are mostly the flipped rows
    assert (run / "review.html").is_file()


def test_review_folds_on_a_regression_says_there_is_no_review(tmp_path):
    table = _numbers(tmp_path / "numbers.csv")
    r = run_cli("train", table, "--output", tmp_path / "run", "--json", "--set", "train.review_folds=3")
    assert r.returncode == 0, r.stderr
    assert "no label review" in json.loads(r.stdout)["review"]["note"]
    assert "no label review" in (tmp_path / "run" / "report.html").read_text()


def test_each_repeat_deals_the_folds_anew_and_the_first_is_a_plain_reviews():
    from lamina.training.review import _stratified_folds

    given = np.repeat(np.arange(3), 20)
    deals = [_stratified_folds(given, 5, 0, "data", ["a", "b", "c"], r) for r in range(3)]
    assert (deals[0] == _stratified_folds(given, 5, 0, "data", ["a", "b", "c"])).all()
    assert (deals[0] != deals[1]).any() and (deals[1] != deals[2]).any()
    for deal in deals:  # every label's samples spread evenly over the folds
        assert all(np.bincount(deal[given == j], minlength=5).tolist() == [4] * 5 for j in range(3))


def test_a_frozen_embeddings_neighbours_are_blended_into_a_text_review(tmp_path):
    rows = topic_texts(per_class=40, seed=3)
    rng = np.random.default_rng(0)
    flipped = set(rng.choice(len(rows), 6, replace=False).tolist())
    topics = sorted({label for _, label in rows})
    noisy = [(t, topics[(topics.index(y) + 1) % 3] if i in flipped else y) for i, (t, y) in enumerate(rows)]
    table = write_text_csv(tmp_path / "topics.csv", noisy)
    out = tmp_path / "review.csv"
    r = run_cli("review", table, "--output", out, "--folds", "3", "--repeats", "1", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    with open(out, newline="") as f:
        ranked = list(csv.DictReader(f))
    assert 0.0 < summary["neighbour_weight"] <= 0.95, summary  # the sentence embedding separates the topics
    assert any(r["label_score"] != r["model_score"] for r in ranked)
    top = {r["input"] for r in ranked[: len(flipped)]}
    assert len(top & {f"row {i + 2}" for i in flipped}) >= 5


def test_a_review_freezes_a_pretrained_encoder_unless_the_config_says():
    from lamina.common.config import Config
    from lamina.training.review import _encoder_frozen

    def freeze(model: dict, modality: str):
        return _encoder_frozen(Config.model_validate({"data": {"path": "x"}, "model": model}), modality).model.freeze

    assert freeze({"name": "speech-embedding"}, "audio") is True  # its own default is to fine-tune
    assert freeze({"name": "speech-embedding", "freeze": False}, "audio") is False
    assert freeze({"name": "dscnn"}, "audio") is None  # nothing to freeze
