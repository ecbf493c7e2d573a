"""A whole run, start to end: run directory, data, fit, evaluation, model package.

Also the evaluation of a finished model on any labeled data.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lamina.common.config import Config, dump_config, load_config
from lamina.common.errors import LaminaError
from lamina.common.files import read_json
from lamina.common.runtime import use_tracking_credentials
from lamina.data.dataset import PreparedData, prepare_training_data
from lamina.models.package import package_meta, parity_samples, save_package
from lamina.models.modality import torch_modality
from lamina.training.importance import column_importance
from lamina.training.mistake_maps import mistake_maps
from lamina.training.review import report_review
from lamina.models.registry import check_name, registered
from lamina.training.checkpoint import CheckpointWriter, load_checkpoint
from lamina.training import distributed
from lamina.training.distributed import Dist
from lamina.training.state import Resume
from lamina.training.trainer import fit
from lamina.training.evaluation import final_metrics
from lamina.training import report
from lamina.training.preempt import Preempted
from lamina.training.preparation import data_problems, prepare_run, tokenizer_file
from lamina.training.run import NullRun, RunDir, read_metrics, run_lock
from lamina.common.progress import Reporter


def run_state(output: Path) -> str:
    """'empty' | 'resumable' (a checkpoint to continue from) | 'completed' | 'unfinished' (no checkpoint yet)."""
    if not output.exists() or (output.is_dir() and not any(output.iterdir())):
        return "empty"
    info = output / "run.json"
    status = read_json(info).get("status") if info.is_file() else None
    if status == "completed":
        return "completed"
    if (output / "checkpoints" / "last").is_dir() or (output / "checkpoints" / ".last.old").is_dir():
        return "resumable"
    return "unfinished" if status is not None else "foreign"


def _load_resume(run: RunDir, report: Reporter) -> Resume:
    weights, tensors, state, problems = load_checkpoint(run.checkpoints, "last")
    best = None
    if state["train"]["best_epoch"] >= 0:
        best, _, _, best_problems = load_checkpoint(run.checkpoints, "best")
        problems += best_problems
    if problems:
        report.warn("damaged checkpoint files were skipped: " + "; ".join(problems))
    return Resume(weights, tensors, state, best)


def _check_same(
    requested: Config, saved: Config, keys: list[str], output: Path, what: str = "the run being resumed"
) -> None:
    """Refuse to resume (or to call a run complete) when an explicitly given key differs from the run's saved config."""
    for key in keys:
        a, b = requested, saved
        for part in key.split("."):
            a, b = getattr(a, part), getattr(b, part)
        if a != b:
            raise LaminaError(
                f"{output}: {key}={a!r} differs from {what} ({key}={b!r}). "
                "Drop the option, choose another --output, or pass --overwrite to start over."
            )


def _completed(cfg: Config, output: Path, explicit_keys: list[str], report: Reporter) -> dict:
    """The same command again on a finished run: nothing to do (orchestrators retry commands).

    Raises:
        LaminaError: the data or an explicitly given option differs from the completed run's.
    """
    saved = load_config(output / "config.yaml")
    same_data = (
        cfg.data.path is None
        or saved.data.path is not None
        and Path(cfg.data.path).resolve() == Path(saved.data.path).resolve()
    )
    if not same_data:
        raise LaminaError(
            f"--output {output}: holds a completed run on {saved.data.path}, not {cfg.data.path}. "
            "Choose another --output or pass --overwrite."
        )
    _check_same(cfg, saved, explicit_keys, output, "the completed run")
    report.say(f"{output}: this run is already complete; nothing to do (pass --overwrite to train again)")
    return {**read_json(output / "run.json").get("result", {}), "already_complete": True}


def run_training(
    cfg: Config,
    output: Path,
    overwrite: bool = False,
    quiet: bool = True,
    resume: bool | None = None,
    explicit_keys: list[str] | None = None,
    finalize=None,
    on_epoch=None,
) -> dict:
    """Train per ``cfg`` into the run directory ``output``; see :func:`lamina.api.train`.

    A directory with a checkpoint is resumed from it (with the run's own saved config) unless
    ``overwrite``; ``resume=True`` insists on resuming, ``resume=False`` refuses to. Keys
    given explicitly (``explicit_keys``, e.g. from --set) must match the saved config.
    ``finalize(model_dir)`` runs once the package is written (the API exports ONNX there);
    its result is the summary's "export". With track.mlflow_uri, the run is mirrored to MLflow.
    ``on_epoch(epoch, val_metrics) -> bool`` may end training early (see fit). Under torchrun,
    rank 0 does all of this and the other ranks only train.
    """
    # Credentials in the tracking URI go to MLflow's environment, never into the run's files.
    cfg = cfg.model_copy(
        update={"track": cfg.track.model_copy(update={"mlflow_uri": use_tracking_credentials(cfg.track.mlflow_uri)})}
    )
    dist = distributed.init(cfg.train.device)
    try:
        if not dist.main:
            return _follow(output, dist)
        request = _Request(output, overwrite, resume, explicit_keys or [], finalize, on_epoch)
        return _lead(cfg, request, Reporter(quiet, dist.main), dist)
    finally:
        distributed.close(dist)


def _follow(output: Path, dist: Dist) -> dict:
    """A rank other than 0: train in step with rank 0 on the config it resolved; write nothing."""
    plan = dist.broadcast(None)
    if "error" in plan:
        raise SystemExit(2)  # rank 0 reports the error
    cfg = load_config(plan["cfg"])
    # from the cache (and tokenizer) rank 0 wrote
    data = prepare_training_data(cfg.data, cfg.train.seed, tokenizer_file(cfg, output, True))
    checkpoint = _load_resume(RunDir(output), Reporter(quiet=True)) if plan["resuming"] else None
    fit(cfg, data, NullRun(), None, progress_quiet=True, resume=checkpoint, dist=dist)
    return {"run": str(output), "rank": dist.rank}


@dataclass(frozen=True)
class _Request:
    """What run_training was asked besides the config (see its docstring)."""

    output: Path
    overwrite: bool
    resume: bool | None
    explicit_keys: list[str]
    finalize: Callable | None
    on_epoch: Callable | None


def _lead(cfg: Config, request: _Request, report: Reporter, dist: Dist) -> dict:
    """Rank 0 (or the only process): the run directory, data, fit, evaluation, package, tracking."""
    try:
        with run_lock(request.output):
            return _lead_unguarded(cfg, request, report, dist)
    except BaseException as e:
        if dist.active and not dist.announced:
            dist.broadcast({"error": str(e)})  # the other ranks are waiting for the plan: let them exit
        raise


def _lead_unguarded(cfg: Config, request: _Request, report: Reporter, dist: Dist) -> dict:
    output = request.output
    state = "empty" if request.overwrite else run_state(output)
    if state == "completed":
        return _completed(cfg, output, request.explicit_keys, report)
    resuming = _plan(state, output, request.resume)
    if resuming:
        saved = load_config(output / "config.yaml")
        _check_same(cfg, saved, request.explicit_keys, output)
        cfg = saved
    # fail on an unknown model before touching disk or data (the modality is known after the scan)
    check_name(cfg.model)
    if state == "unfinished":
        report.say(f"{output}: an earlier run stopped before its first checkpoint; starting over")
    run = RunDir(output) if resuming else RunDir(output).create(overwrite=True)
    previous_tracking = (
        read_json(output / "run.json").get("tracking") if resuming and (output / "run.json").is_file() else None
    )
    run.set_status("running")
    tracker, status, summary = None, "failed", None
    try:
        cfg, data = prepare_run(cfg, run, resuming, report)
        checkpoint = _begin(cfg, run, data, resuming, report)
        tracker = _start_tracking(cfg, run, data, previous_tracking, report)
        if dist.active:
            dist.broadcast({"cfg": cfg.model_dump(mode="json"), "resuming": resuming})
            dist.announced = True
        result, writer = _fit(cfg, data, run, checkpoint, dist, report, request.on_epoch)
        summary = _finish(cfg, run, data, result)
        writer.wait()  # the final checkpoint was written while the package and report were
        run.set_status("completed", result=summary)
        status = "completed"
        if request.finalize is not None:
            # before tracking finishes, so the logged package is complete
            summary["export"] = request.finalize(run.model)
    except BaseException as e:
        if status != "completed":
            ends = ((Preempted, "preempted"), (KeyboardInterrupt, "interrupted"))
            stopped = next((name for kind, name in ends if isinstance(e, kind)), "failed")
            run.set_status(stopped, error=str(e) or type(e).__name__)
        raise
    finally:
        _finish_tracking(tracker, status, run, cfg, summary, report)
        run.close()
    return summary


def _plan(state: str, output: Path, resume: bool | None) -> bool:
    """Whether this run resumes the one in ``output`` (its state from run_state), or why it may not run there.

    Raises:
        LaminaError: a folder that is not a run, --resume without a checkpoint, an unfinished run without --resume or --overwrite.
    """
    if state == "foreign":
        raise LaminaError(
            f"--output {output}: holds files that are not a lamina run. Choose another --output or pass --overwrite."
        )
    if resume and state != "resumable":
        raise LaminaError(f"--resume: {output} has no checkpoint to resume from.")
    if state == "resumable" and resume is False:
        raise LaminaError(
            f"--output {output}: holds an unfinished run with checkpoints. Resume it or pass --overwrite."
        )
    return state == "resumable"


def _begin(cfg: Config, run: RunDir, data: PreparedData, resuming: bool, report: Reporter) -> Resume | None:
    """A new run writes its config and data summary; a resumed one checks its data and loads its checkpoint."""
    if not resuming:
        run.write_config(cfg)
        run.write_data(data.summary())
        return None
    if read_json(run.path / "data.json")["fingerprint"] != data.fingerprint:
        raise LaminaError(
            f"{cfg.data.path}: the data changed since {run.path} started (fingerprint differs). "
            "Restore it, or pass --overwrite to start over."
        )
    checkpoint = _load_resume(run, report)
    t = checkpoint.state["train"]
    report.say(f"resuming {run.path} at epoch {t['epoch'] + 1}, step {t['global_step']}")
    return checkpoint


def _fit(
    cfg: Config, data: PreparedData, run: RunDir, checkpoint: Resume | None, dist: Dist, report: Reporter, on_epoch
):
    """(fit's result, the checkpoint writer, its last write possibly still in flight)."""
    writer = CheckpointWriter(run.checkpoints)
    try:
        return fit(
            cfg, data, run, writer, progress_quiet=report.quiet, resume=checkpoint, dist=dist, on_epoch=on_epoch
        ), writer
    except BaseException:
        with contextlib.suppress(Exception):
            writer.wait()
        raise


def _finish(cfg: Config, run: RunDir, data: PreparedData, result) -> dict:
    """Final metrics logged, the model package and the report written; the run's summary."""
    metrics, reported = final_metrics(result.model, data, result.batch["eval_batch_size"])
    for name, m in metrics.items():
        run.log_metrics({"step": None, "epoch": result.best_epoch, "split": name, "final": True, **m})
    mean, std = torch_modality(data.prep).normalization(registered()[cfg.model.name], data.prep, (data.mean, data.std))
    meta = package_meta(
        name=run.path.resolve().name,
        modality=data.modality,
        labels=data.labels,
        prep=data.prep,
        mean=mean,
        std=std,
        model_cfg=cfg.model,
        metrics=metrics,
        fingerprint=data.fingerprint,
        task=data.task,
    )
    meta["training"] = {
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "precision": result.precision,
        "device": result.device,
        "seed": cfg.train.seed,
    }
    save_package(run.model, result.model, meta, data.tokenizer, parity_samples(data.splits, data.prep))
    review = report_review(cfg, run.path) if cfg.train.review_folds else None
    report_file = None
    if reported is not None:
        name, split, probs, m = reported
        report_file = report.write_report(
            run.path / "report.html",
            f"{run.path.resolve().name}: {cfg.model.name} on {data.root}",
            name,
            m,
            split,
            probs,
            data.task,
            read_metrics(run.path),
            dump_config(cfg),
            data.fingerprint,
            {"precision": result.precision, "best epoch": result.best_epoch + 1, "epochs": result.epochs_run},
            data.prep,
            {
                "columns": data.column_use(),
                "problems": data_problems(data),
                "importance": column_importance(result.model, data, result.batch["eval_batch_size"]),
                "review": review,
            },
            mistake_maps(result.model, data.prep, data.task, data.labels, data.tokenizer, split, data.root),
        )
    return {
        "run": str(run.path),
        "model": str(run.model),
        "metrics": metrics,
        "best_epoch": result.best_epoch,
        "epochs": result.epochs_run,
        "train_seconds": round(result.train_seconds, 3),
        "samples_per_s": round(result.samples_per_s, 1),
        "precision": result.precision,
        "device": result.device,
        "skipped": len(data.skipped),
        "report": str(report_file) if report_file else None,
        "batch": result.batch,
        **({"review": {k: v for k, v in review.items() if k != "suspects"}} if review else {}),
    }


def _finish_tracking(tracker, status: str, run: RunDir, cfg: Config, summary: dict | None, report: Reporter) -> None:
    """End the MLflow run (when tracking) and record what it got in run.json and the summary."""
    if tracker is None:
        return
    info = tracker.finish(status, run.path, cfg.track.registered_model, cfg.track.alias)
    run.set_status(read_json(run.path / "run.json")["status"], tracking=info)
    if summary is not None:
        summary["tracking"] = info
    if info["unlogged"]:
        report.warn(
            f"MLflow at {info['uri']} did not get everything (all of it is in {run.path}): "
            + "; ".join(info["unlogged"])
        )


def _start_tracking(cfg: Config, run: RunDir, data: PreparedData, previous: dict | None, report: Reporter):
    """An MlflowTracker when track.mlflow_uri is set (continuing the run's MLflow run on resume), else None.

    An unreachable server is reported and training goes on untracked.
    """
    uri = cfg.track.mlflow_uri
    if not uri:
        return None
    import platform

    import torch

    from lamina.common.version import __version__
    from lamina.training.tracking import MlflowTracker, TrackingUnavailable

    tags = {
        "lamina.data_fingerprint": data.fingerprint,
        "lamina.version": __version__,
        "torch.version": torch.__version__,
        "python.version": platform.python_version(),
        "lamina.run_dir": str(run.path.resolve()),
        "lamina.modality": data.modality,
        "lamina.model": cfg.model.name,
    }
    run_id = previous.get("run_id") if previous and previous.get("uri") == uri else None
    try:
        tracker = MlflowTracker(
            uri, cfg.track.experiment, run.path.resolve().name, cfg.model_dump(mode="json"), tags, run_id=run_id
        )
    except TrackingUnavailable as e:
        report.warn(
            f"MLflow tracking is off for this run, nothing was logged to it ({e}); the run directory has everything"
        )
        run.set_status("running", tracking={"uri": uri, "unlogged": [f"everything: {e}"]})
        return None
    run.set_status("running", tracking={"uri": uri, "run_id": tracker.run_id, "experiment_id": tracker.experiment_id})
    run.tracker = tracker
    return tracker
