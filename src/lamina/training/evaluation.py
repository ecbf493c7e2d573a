"""A trained model's figures on its val and test splits, per task (multi-label thresholds are tuned here, on val), and
`lamina evaluate`: a package's figures on labeled data, with a report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lamina.common.files import read_json
from lamina.common.package import find_package
from lamina.data.dataset import PreparedData, prepare_eval_data
from lamina.data.task import Task
from lamina.models.output import activate
from lamina.models.package import Predictor
from lamina.training.validation import predict_split
from lamina.training.mistake_maps import mistake_maps
from lamina.training.report import write_report
from lamina.training.run import read_metrics
from lamina.training.figures import FIGURES
from lamina.training.calibration import fit_temperature, reliability
from lamina.training.metrics import tune_thresholds
from lamina.training.objective import Objective


def evaluate_scores(task: Task, scores: np.ndarray, y: np.ndarray, present_only: bool = False) -> dict:
    """Every figure of a task for activated outputs ``scores`` against targets ``y`` (the shape `evaluate --json` prints)."""
    return FIGURES[task.kind].full(task, scores, y, present_only)


def final_metrics(model: torch.nn.Module, data: PreparedData, batch_size: int) -> tuple[dict, tuple | None]:
    """({split: summary figures and loss}, (split name, SplitData, scores, full figures) of the split a report shows:
    test when there is one, else val). A classifier's temperature and a multi-label task's thresholds are fit on val
    first, in that order (without val: neither); each split's figures record its ECE before and after."""
    task, objective = data.task, Objective(data.task)
    raw = {}
    for name in ("val", "test"):
        split = data.splits.get(name)
        if split is not None and len(split):
            raw[name] = (split, *predict_split(model, split, "cpu", "fp32", batch_size, objective))
    figures = FIGURES[task.kind]
    task.temperature = 1.0  # the network's own probabilities first
    uncalibrated = (
        {name: activate(task, out).numpy() for name, (_, out, _) in raw.items()} if figures.calibrates else {}
    )
    if figures.calibrates and "val" in raw:
        task.temperature = fit_temperature(raw["val"][1].numpy(), raw["val"][0].y.numpy(), task.kind)
    outputs = {name: (split, activate(task, out).numpy(), loss) for name, (split, out, loss) in raw.items()}
    if figures.tunes_thresholds:
        task.thresholds = tune_thresholds(outputs["val"][1], outputs["val"][0].y.numpy()) if "val" in outputs else None
    metrics, reported = {}, None
    for name, (split, scores, loss) in outputs.items():
        full = evaluate_scores(task, scores, split.y.numpy())
        metrics[name] = {**{k: full[k] for k in figures.summary}, "loss": loss, "n": full["n"]}
        if name in uncalibrated:
            before = reliability(uncalibrated[name], split.y.numpy(), task.kind)
            full.update(
                ece_uncalibrated=before["ece"],
                temperature=task.temperature,
                reliability={
                    "before": before["bins"],
                    "after": reliability(scores, split.y.numpy(), task.kind)["bins"],
                },
            )
            metrics[name].update({k: full[k] for k in ("ece", "ece_uncalibrated", "temperature")})
        reported = (name, split, scores, full)
    return metrics, reported


def _training_data_info(package_dir: Path) -> dict:
    """data.json of the run the package sits in ({} when the package travels alone)."""
    data_json = package_dir.parent / "data.json"
    return read_json(data_json) if data_json.is_file() else {}


def _training_data_notes(info: dict) -> dict:
    """What the training run's data.json says of its columns and problems, for the report's Data section."""
    use, columns = info.get("use"), info.get("columns")
    if use is None and columns:  # a text run's data.json from before "use" was recorded
        use = {"read": {columns[0]: "text"}, "label": columns[1], "ignored": info.get("ignored_columns", [])}
    return {"columns": use, "problems": info.get("checks", [])}


def run_evaluation(
    model_path,
    data_path,
    split: str | None = None,
    skip_bad: bool = False,
    cache: bool = True,
    report_path: str | Path | None = None,
) -> dict:
    """Metrics of a model package on labeled data; see :func:`lamina.api.evaluate`.

    With ``report_path``, also writes a report.html there (curves from the model's run when
    the package sits in one).
    """
    package = find_package(model_path)
    predictor = Predictor.load(package)
    meta = predictor.meta
    info = _training_data_info(package)
    data, skipped = prepare_eval_data(
        data_path,
        predictor.prep,
        meta["labels"],
        split,
        info.get("splits"),
        skip_bad,
        cache,
        predictor.tokenizer,
        tuple(info.get("columns") or (None, None)),
        predictor.task,
    )
    probs = predictor.scores(data.x)
    result = evaluate_scores(predictor.task, probs.numpy(), data.y.numpy(), present_only=True)
    result.update(split=split, data=str(data_path), model=str(package), skipped=skipped)
    if report_path is not None:
        run_dir = package.parent
        rows = read_metrics(run_dir) if (run_dir / "run.json").is_file() else []
        config_yaml = (
            (run_dir / "config.yaml").read_text(encoding="utf-8")
            if rows and (run_dir / "config.yaml").is_file()
            else ""
        )
        write_report(
            Path(report_path),
            f"{meta.get('name', package.name)} evaluated on {data_path}",
            split or "all",
            result,
            data,
            probs.numpy(),
            predictor.task,
            rows,
            config_yaml,
            meta.get("data_fingerprint", ""),
            {},
            predictor.prep,
            _training_data_notes(info),
            mistake_maps(
                predictor.model, predictor.prep, predictor.task, meta["labels"], predictor.tokenizer, data, None
            ),
        )
        result["report"] = str(report_path)
    return result
