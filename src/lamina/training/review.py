"""`lamina review DATA`: every sample's label checked by models that never trained on it.

The data is read as training reads it (the same config, model and checks); its samples, all splits together, are
dealt into K stratified folds; for each fold the configured model trains on the others (a tenth of them held out
for its early stopping) and predicts the fold. Where the model has a frozen encoder with an embedding, the labels of
each sample's nearest neighbours in it are a second opinion, blended in (lamina.training.neighbours). Those
probabilities go through confident learning (lamina.training.label_issues); the result is one row per sample, most
suspect first, in a CSV, and a page with the top suspects beside their given and suggested labels. A frozen
encoder's features are cached, so its folds train heads only (a pretrained encoder is frozen for the review unless
the config sets ``model.freeze``); a network trained from scratch gets ``train.time_budget / (K x repeats)`` per
fold. With ``repeats`` the samples are dealt into folds that many times, each time differently, and each sample's
out-of-fold probabilities averaged over the repeats (repeated K-fold: every probability still from models that never
saw the sample).
"""

from __future__ import annotations

import csv
import dataclasses
import html
import tempfile
from pathlib import Path

import numpy as np
import torch

from lamina.common.config import Config
from lamina.common.errors import ConfigError
from lamina.common.progress import Reporter
from lamina.data.prepared import PreparedData, SplitData
from lamina.models.registry import registered, resolve
from lamina.training.checkpoint import CheckpointWriter
from lamina.training.features import cache_key, frozen_features
from lamina.training.label_issues import review_ranking
from lamina.training.neighbours import blend, neighbour_probs
from lamina.training.objective import Objective
from lamina.training.preparation import prepare_run
from lamina.training.run import RunDir
from lamina.training.state import FitResult
from lamina.training.trainer import fit
from lamina.training.validation import predict_split

EARLY_STOPPING_SHARE = 0.1  # of a fold's training samples, held out for its early stopping
GALLERY = 24  # suspects shown on the review page
REPORTED = 20  # suspects listed in a training report (train.review_folds)
RANKED_COLUMNS = ["input", "label", "suggested", "confidence", "suspect", "label_score", "model_score"]
EVAL_BATCH = 512


def run_review(cfg: Config, output: Path, folds: int, report: Reporter, suspects: int = 0, repeats: int = 1) -> dict:
    """Out-of-fold probabilities of every sample (averaged over ``repeats`` different deals into folds), with the
    neighbours' opinion blended in, ranked by confident learning, written to ``output`` (CSV) and a page beside it
    (``output`` with .html). Returns a summary: samples, flagged, folds, repeats, neighbour_weight (the blend's weight
    of the neighbours' opinion, 0 without one), the page; with ``suspects``, the first that many flagged rows too.

    Raises:
        ConfigError: fewer than 2 folds or 1 repeat, a task other than one label per sample, a label with fewer than
            ``folds`` samples.
    """
    if folds < 2 or repeats < 1:
        raise ConfigError(f"--folds {folds} --repeats {repeats}: a review needs at least 2 folds and 1 repeat")
    budget = _per_fold(cfg, folds * repeats)
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"time_budget": budget})})
    with tempfile.TemporaryDirectory(prefix="lamina-review-") as tmp:
        cfg, data = prepare_run(cfg, RunDir(Path(tmp) / "data").create(), False, report)
        cfg = _encoder_frozen(cfg, data.modality)
        if data.task.kind != "classification":
            raise ConfigError(f"lamina review checks one label per sample; {data.root} is a {data.task.kind} task")
        pooled = SplitData.join([s for s in data.splits.values() if len(s)])
        given = pooled.y.numpy()
        model_probs = np.zeros((len(given), len(data.labels)), np.float32)
        for r in range(repeats):
            part, last = _repeat_probs(cfg, data, pooled, folds, r, Path(tmp) / f"repeat-{r}", report)
            model_probs += part / repeats
        probs, weight = _with_neighbours(cfg, data, pooled, last, model_probs)
    order, issues, suggested = review_ranking(probs, given)
    rows = _ranked_rows(pooled, data.labels, given, (probs, model_probs), order, issues, suggested)
    _write_csv(output, rows)
    page = output.with_suffix(".html")
    _write_page(page, data, pooled, given, probs, order, issues, suggested)
    summary = {
        "samples": len(given),
        "flagged": int(issues.sum()),
        "folds": folds,
        "repeats": repeats,
        "neighbour_weight": weight,
        "csv": str(output),
        "page": str(page),
    }
    if suspects:
        summary["suspects"] = [r for r in rows if r["suspect"] == "true"][:suspects]
    return summary


def report_review(cfg: Config, run_path: Path) -> dict:
    """``train.review_folds`` after a training: run_review into the run (review.csv, review.html) with its first
    REPORTED suspects for the report; where the review refuses the data (a task without one label per sample, a label
    with fewer samples than folds), why there is none, and the finished training stands."""
    try:
        return run_review(cfg, run_path / "review.csv", cfg.train.review_folds, Reporter(quiet=True), REPORTED)
    except ConfigError as e:
        return {"note": f"train.review_folds: no label review: {e}"}


def _encoder_frozen(cfg: Config, modality: str) -> Config:
    """The config with a pretrained encoder frozen where it leaves ``model.freeze`` to the model's default (the speech
    embedding's is to fine-tune): K x repeats fine-tunings would each get a sliver of ``train.time_budget``, where a
    frozen encoder's features are computed once and its embedding gives the neighbours' opinion. An explicit
    ``model.freeze`` is kept."""
    if cfg.model.freeze is not None or "freeze" not in registered()[resolve(cfg.model, modality).name].defaults:
        return cfg
    return cfg.model_copy(update={"model": cfg.model.model_copy(update={"freeze": True})})


def _per_fold(cfg: Config, folds: int) -> float | None:
    budget = cfg.train.time_budget
    return None if budget is None else budget / folds


def _with_neighbours(cfg: Config, data: PreparedData, pooled: SplitData, fitted: FitResult, probs: np.ndarray):
    """(``probs`` blended with the labels of each sample's neighbours in the frozen encoder's embedding, the blend's
    weight); ``probs`` as they are and 0 where the model has no such embedding (``fitted``: a fold's model)."""
    model = fitted.model
    if not (model.frozen_encoder and model.embedding_width):
        return probs, 0.0
    key = cache_key(model, data.prep, cfg.data.cache, fitted.precision)
    embedded = model.embedding_of(frozen_features(model, pooled, "cpu", fitted.precision, EVAL_BATCH, key).x).numpy()
    given = pooled.y.numpy()
    return blend(probs, neighbour_probs(embedded, given, probs.shape[1]), given)


def _repeat_probs(cfg: Config, data, pooled: SplitData, folds: int, repeat: int, where: Path, report):
    """((N, labels) every sample's probabilities from the model of the fold it was dealt into, in deal ``repeat``;
    the last fold's training)."""
    given = pooled.y.numpy()
    fold_of = _stratified_folds(given, folds, cfg.train.seed, data.root, data.labels, repeat)
    probs = np.zeros((len(given), len(data.labels)), np.float32)
    for k in range(folds):
        probs[fold_of == k], fitted = _fold_probs(cfg, data, pooled, fold_of, (repeat, k), where / f"fold-{k}")
        agree = float((probs[fold_of == k].argmax(1) == given[fold_of == k]).mean())
        report.say(
            f"{f'repeat {repeat + 1}, ' if repeat else ''}fold {k + 1}/{folds}: trained on {int((fold_of != k).sum())} "
            f"samples for {fitted.epochs_run} epochs; agrees with {agree:.1%} of the labels of the {int((fold_of == k).sum())} "
            "it did not see"
        )
    return probs, fitted


def _stratified_folds(given: np.ndarray, folds: int, seed: int, root, labels: list[str], repeat: int = 0) -> np.ndarray:
    """(N,) the fold of each sample: each label's samples shuffled and dealt round-robin (each ``repeat`` its own
    deal; the first is the one a review without repeats makes)."""
    rng = np.random.default_rng([seed, 0x0F01D] + ([repeat] if repeat else []))
    out = np.empty(len(given), np.int64)
    for j in np.unique(given):
        mine = np.flatnonzero(given == j)
        if len(mine) < folds:
            raise ConfigError(
                f"{root}: label '{labels[j]}' has {len(mine)} samples; a {folds}-fold review needs at least {folds} "
                "(pass --folds, or leave the label out)"
            )
        out[rng.permutation(mine)] = np.arange(len(mine)) % folds
    return out


def _fold_probs(cfg: Config, data: PreparedData, pooled: SplitData, fold_of: np.ndarray, at: tuple, where: Path):
    """(the probabilities of fold ``k``'s samples from the model trained on the other folds, its training); ``at``
    is (repeat, k)."""
    repeat, k = at
    rest = np.flatnonzero(fold_of != k)
    rng = np.random.default_rng([cfg.train.seed, k] + ([repeat] if repeat else []))
    held = np.zeros(len(rest), bool)
    for j in np.unique(pooled.y.numpy()[rest]):
        mine = np.flatnonzero(pooled.y.numpy()[rest] == j)
        held[rng.permutation(mine)[: max(1, round(EARLY_STOPPING_SHARE * len(mine)))]] = True
    splits = {"train": pooled.take(rest[~held]), "val": pooled.take(rest[held])}
    run = RunDir(where).create()
    writer = CheckpointWriter(run.checkpoints)
    try:
        result = fit(cfg, dataclasses.replace(data, splits=splits), run, writer, progress_quiet=True)
    finally:
        writer.wait()
    out, _ = predict_split(
        result.model, pooled.take(np.flatnonzero(fold_of == k)), "cpu", "fp32", EVAL_BATCH, Objective(data.task)
    )
    return torch.softmax(out, dim=1).numpy(), result


def _ranked_rows(pooled, labels, given, both, order, issues, suggested) -> list[dict]:
    """One row per sample, most suspect first: input, label, suggested, confidence (of the suggestion), suspect,
    label_score (the given label's probability, neighbours blended in: the order sorts by it) and model_score (the
    given label's out-of-fold probability alone: the plain "lowest first" ranking sorts by it); ``both`` is (the
    blended probabilities, the model's)."""
    probs, model_probs = both
    return [
        {
            "input": pooled.keys[i],
            "label": labels[given[i]],
            "suggested": labels[suggested[i]],
            "confidence": f"{probs[i, suggested[i]]:.4f}",
            "suspect": "true" if issues[i] else "false",
            "label_score": f"{probs[i, given[i]]:.4f}",
            "model_score": f"{model_probs[i, given[i]]:.4f}",
        }
        for i in order
    ]


def _write_csv(output: Path, rows: list[dict]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=RANKED_COLUMNS)
        w.writeheader()
        w.writerows(rows)


def _write_page(page: Path, data, pooled, given, probs, order, issues, suggested) -> None:
    """The top suspects, each with what the modality shows of it (a picture, a clip's spectrogram, a text)."""
    e = html.escape
    cards = []
    for i in [i for i in order if issues[i]][:GALLERY]:
        shown = data.prep.preview(pooled, int(i))
        cards.append(
            f'<figure class="card">{shown}<figcaption>{e(pooled.keys[i])}<br>labelled <b>{e(data.labels[given[i]])}'
            f"</b> ({probs[i, given[i]]:.2f}), looks like <b>{e(data.labels[suggested[i]])}</b> "
            f"({probs[i, suggested[i]]:.2f})</figcaption></figure>"
        )
    body = "".join(cards) or "<p>No sample was flagged.</p>"
    page.write_text(
        f"<!doctype html><meta charset='utf-8'><title>Label review: {e(str(data.root))}</title>"
        "<style>body{font-family:sans-serif;margin:2em}.card{display:inline-block;width:220px;vertical-align:top;"
        "margin:.5em}.card img{max-width:200px}</style>"
        f"<h1>Label review: {e(str(data.root))}</h1><p>{int(issues.sum())} of {len(given)} samples flagged by "
        f"confident learning on out-of-fold probabilities; the top {min(GALLERY, int(issues.sum()))}:</p>{body}",
        encoding="utf-8",
    )
