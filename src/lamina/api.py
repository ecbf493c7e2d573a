"""The Python API behind ``lamina.train``, ``lamina.evaluate`` and ``lamina.load`` (and the CLI)."""

from __future__ import annotations

from pathlib import Path

from lamina.common.config import Config, load_config, parse_override
from lamina.common.errors import LaminaError
from lamina.common.runtime import has_torch, require_torch

CONFIG_SUFFIXES = (".yaml", ".yml")


def _flag_settings(settings: dict | None, device=None, skip_bad=None, deterministic=None) -> dict:
    """``settings`` with the shortcut flags written as the keys they set (train.device, data.skip_bad,
    train.deterministic); flags left unset add nothing."""
    flags = {
        "train.device": device,
        "data.skip_bad": True if skip_bad else None,
        "train.deterministic": True if deterministic else None,
    }
    return {**(settings or {}), **{k: v for k, v in flags.items() if v is not None}}


def resolve_config(
    data_or_config=None, *, overrides=None, seed=None, device=None, skip_bad=None, settings=None
) -> Config:
    """The run's Config from a YAML path, a config dict or a data path, then overrides and flags.

    Args:
        data_or_config: "my.yaml" | {"data": {...}, ...} | "data/digits" (zero-config) | None.
        overrides: "dotted.key=value" strings, as ``--set``.
        settings: {"dotted.key": value}, typed (applied after ``overrides``).
        seed, device, skip_bad: shortcuts for train.seed, train.device, data.skip_bad.
    """
    settings = _flag_settings(settings, device=device, skip_bad=skip_bad)
    is_config = isinstance(data_or_config, dict) or (
        data_or_config is not None and str(data_or_config).lower().endswith(CONFIG_SUFFIXES)
    )
    return load_config(
        data_or_config if is_config else None,
        data_path=None if is_config or data_or_config is None else str(data_or_config),
        overrides=overrides,
        seed=seed,
        settings=settings,
    )


def default_output(cfg: Config) -> Path:
    """runs/<data folder or manifest name>."""
    name = Path(cfg.data.path or "run").resolve().name
    return Path("runs") / (Path(name).stem or "run")


def train(
    data_or_config=None,
    *,
    output=None,
    overrides=None,
    seed=None,
    device=None,
    skip_bad=None,
    overwrite: bool = False,
    quiet: bool = True,
    export_onnx: bool = True,
    resume: bool | None = None,
    deterministic: bool | None = None,
    settings: dict | None = None,
) -> dict:
    """Train and evaluate a model; writes a run directory with the model package in ``model/``.

    Args:
        data_or_config: a data folder / CSV manifest, a YAML config path, or a config dict.
        output: run directory to create (default runs/<data name>).
        overrides: "dotted.key=value" strings (``--set``).
        settings: {"dotted.key": value}, typed: what the CLI's flags set.
        overwrite: replace an existing run directory.
        quiet: no progress output.
        export_onnx: also write model.onnx (checked for parity), so the run can be served.
        resume: None = continue ``output`` from its last checkpoint when it has one; True = insist; False = refuse.
        deterministic: sets train.deterministic (bit-identical reruns and resumes).
    Returns:
        {"run", "model", "metrics": {"val", "test"}, "best_epoch", "epochs", "train_seconds",
         "samples_per_s", "precision", "device", "skipped", "report", "export"}, and "tracking"
        ({"uri", "run_id", "experiment_id", "model_version", "unlogged"}) with track.mlflow_uri.
    """
    require_torch("lamina train")
    from lamina.training.session import run_training

    settings = _flag_settings(settings, device=device, skip_bad=skip_bad, deterministic=deterministic)  # explicit keys
    cfg = resolve_config(data_or_config, overrides=overrides, seed=seed, settings=settings)
    if cfg.track.registered_model and not cfg.track.mlflow_uri:
        from lamina.common.runtime import mlflow_tracking_uri

        cfg.track.mlflow_uri = mlflow_tracking_uri()
        if not cfg.track.mlflow_uri:
            raise LaminaError(
                f"track.registered_model={cfg.track.registered_model!r} needs a tracking server: "
                "pass --tracking-uri URI (track.mlflow_uri) or set MLFLOW_TRACKING_URI"
            )
    explicit = (
        [".".join(parse_override(o)[0]) for o in overrides or []]
        + list(settings)
        + (["train.seed"] if seed is not None else [])
    )
    return run_training(
        cfg,
        Path(output) if output else default_output(cfg),
        overwrite=overwrite,
        quiet=quiet,
        resume=resume,
        explicit_keys=explicit,
        finalize=export if export_onnx else None,
    )


def validate(data_or_config, *, overrides=None, output=None) -> dict:
    """Check training data without training: every bad file at once, class balance, leakage, the columns read.

    Returns {"path", "files", "counts", "columns", "errors", "warnings"}; each problem has "level",
    "kind", "message" and, where files or rows are involved, "paths" (the first 20, each cut to a line) and
    "count"; "columns" names what the model reads of a table and what it ignores (None for folders).

    Args:
        output: a file to write every item of every problem to, one JSON object per line (also "output").
    """
    require_torch("lamina validate")
    from lamina.common.listing import bounded, write_full
    from lamina.data.dataset import validate_data

    cfg = resolve_config(data_or_config, overrides=overrides)
    result = validate_data(cfg.data, cfg.train.seed)
    if output is not None:
        result["output"] = str(write_full(output, result["errors"] + result["warnings"]))
    return {
        **result,
        "errors": list(map(bounded, result["errors"])),
        "warnings": list(map(bounded, result["warnings"])),
    }


def review(data_or_config, *, output, folds: int = 5, repeats: int = 3, overrides=None, quiet: bool = True) -> dict:
    """Find likely label errors: out-of-fold probabilities from ``folds`` models trained as ``lamina train`` would
    (dealt into folds ``repeats`` times, averaged; a frozen embedding's nearest neighbours' labels blended in), ranked
    by confident learning (lamina.training.review).

    Writes ``output`` (CSV: input, label, suggested, confidence, suspect, label_score, model_score; most suspect
    first) and a page of the top suspects beside it (.html). Returns {"samples", "flagged", "folds", "repeats",
    "neighbour_weight", "csv", "page"}.
    """
    require_torch("lamina review")
    from lamina.common.progress import Reporter
    from lamina.training.review import run_review

    cfg = resolve_config(data_or_config, overrides=overrides)
    return run_review(cfg, Path(output), folds, Reporter(quiet=quiet), repeats=repeats)


def tune(
    config,
    *,
    trials: int,
    storage: str | None = None,
    study: str | None = None,
    output=None,
    pruner: str = "median",
    quiet: bool = True,
) -> dict:
    """Optuna search over the ``search:`` section of the YAML ``config``; see lamina.training.tune.

    Returns {"study", "storage", "best_trial", "best_value", "best_params", "best_run", "best_config", "trials"}.
    """
    require_torch("lamina tune")
    from lamina.training.tune import run_tune

    name = study or Path(config).stem
    return run_tune(
        config,
        trials,
        storage,
        name,
        Path(output) if output else Path("runs") / f"tune-{name}",
        pruner=pruner,
        quiet=quiet,
    )


def export(model, format: str = "onnx", quantize: str | None = None) -> dict:
    """Write ``model.onnx`` into a model package (run directory or ``model/``) and check parity.

    Args:
        quantize: "int8" also writes ``model.int8.onnx`` (ONNX Runtime static quantization calibrated on the
            parity samples), kept only when the val split's figure drops by at most 0.5 points.
    Returns:
        The "export" section recorded in lamina.json, plus "path" to the written file (and "int8" with its own "path").
    Raises:
        ExportError: ONNX Runtime and PyTorch disagree (nothing is written); QuantizationRefused (an
            ExportError): int8 loses more than allowed (model.onnx is kept, no int8 file).
    """
    require_torch("lamina export")
    from lamina.common.package import find_package
    from lamina.exporting.onnx import export_onnx

    if format != "onnx":
        raise LaminaError(f"export: unknown format {format!r}; supported: onnx")
    if quantize not in (None, "int8"):
        raise LaminaError(f"export: unknown quantization {quantize!r}; supported: int8")
    package = find_package(model)
    section = {**export_onnx(model), "path": str(package / "model.onnx")}
    if quantize == "int8":
        from lamina.exporting.quantize import quantize_int8

        int8 = quantize_int8(model)
        section["int8"] = {**int8, "path": str(package / int8["file"])}
    section["mlmodel"] = str(_write_mlmodel(package))
    return section


def _write_mlmodel(package: Path) -> Path:
    """The package's MLmodel, which makes it an MLflow model (the graph it serves is written by then). lamina.json is
    read as it stands: export has just written and checked it (read_meta would hash every file of the package again,
    115 MB of weights for a MiniLM package)."""
    from lamina.common.files import read_json
    from lamina.data.modality import preprocess_from_meta
    from lamina.data.task import Task
    from lamina.serve.mlflow_model import write_mlmodel

    meta = read_json(package / "lamina.json")
    return write_mlmodel(package, preprocess_from_meta(meta), Task.from_meta(meta).kind)


def evaluate(model, data, *, split: str | None = None, skip_bad: bool = False, cache: bool = True, report=None) -> dict:
    """Evaluate a run or model package on labeled data.

    Args:
        model: run directory or its ``model/`` directory.
        data: labeled data in any supported layout (need not be the training data).
        split: None = all of ``data``; else that split folder, or the split recorded in the run.
        report: a path to write a self-contained HTML report to (confusion matrix, per-class
            table, worst mistakes, and the training curves when ``model`` sits in its run).
    Returns:
        {"accuracy", "macro_f1", "n", "labels", "per_class", "confusion_matrix", "split", "data", "skipped"}
        (and "report" when one was written).
    """
    require_torch("lamina evaluate")
    from lamina.training.evaluation import run_evaluation

    return run_evaluation(model, data, split=split, skip_bad=skip_bad, cache=cache, report_path=report)


def explain(model, inputs, *, output=None, method: str = "auto") -> list[dict]:
    """Why the model answers what it does for each input: integrated gradients where the network has them (images,
    audio, texts; needs torch), occlusion through ONNX Runtime elsewhere (torch-free, any package with model.onnx);
    ``method`` "integrated-gradients", "grad-cam" (convolutional image networks) or "occlusion" insists on one. See lamina.explaining.explain. With ``output``, each map is also drawn over its input (PNG; HTML for texts
    and table rows) beside its JSON."""
    from lamina.explaining.explain import explain_inputs

    items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    return explain_inputs(model, list(items), Path(output) if output is not None else None, method)


def load(path, device: str = "cpu"):
    """Load a model package (or run directory) for prediction: ``load(p).predict([...])``. Without torch (the
    serving-only install) the package's model.onnx answers, through ONNX Runtime, as ``lamina serve`` would."""
    if not has_torch():
        from lamina.serve.predictor import OnnxPredictor

        return OnnxPredictor.load(path)
    from lamina.models.package import Predictor

    return Predictor.load(path, device=device)


def score(
    model,
    inputs,
    output,
    *,
    shard: str | None = None,
    column: str | None = None,
    batch_size: int = 256,
    top_k: int = 5,
    workers: int | None = None,
    quiet: bool = True,
) -> dict:
    """Batch scoring through ONNX Runtime (no torch): every input of a folder, manifest or text table, one row each
    into ``output`` (.csv, .jsonl or .parquet); a rerun goes on where an interrupted one stopped.

    Args:
        model: run directory or package with ``model.onnx`` (``lamina export``).
        inputs: a folder of files, a table with a ``path`` column (image/audio models), or a text table.
        shard: "I/N": score every N-th input from the I-th into ``NAME.I-of-N.EXT``.
        column: the table's text or path column when its name does not say so.
    Returns:
        {"output", "rows", "scored", "errors", "resumed_after", "seconds"}.
    Raises:
        DataError: unreadable inputs list or output; a partial output that does not match the inputs.
    """
    from lamina.serve.inputs import open_source
    from lamina.serve.outputs import open_sink
    from lamina.serve.runtime import load_served_model
    from lamina.serve.score import Shard
    from lamina.serve.score import score as run_score

    served = load_served_model(str(model), threads=0, spin=False)
    part = Shard.parse(shard)
    source = open_source(inputs, served.prep, column)
    sink = open_sink(part.output(output), served.task.kind)
    return run_score(served, source, sink, part, batch_size=batch_size, top_k=top_k, workers=workers, quiet=quiet)
