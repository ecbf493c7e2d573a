"""MLflow tracking and model registry (optional: ``pip install 'lamina[mlflow]'``, imported lazily).

The run directory stays the record; MLflow gets a copy. Every metrics.jsonl line is queued
and sent in batches by a background thread, so a slow or vanished tracking server never
slows or stops training. Whatever could not be sent is counted and reported at the end
(and written to run.json); nothing is lost locally.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from pathlib import Path

from lamina.common.dotted import flatten
from lamina.common.errors import LaminaError
from lamina.common.runtime import set_mlflow_client_defaults, use_tracking_credentials

METRIC_KEYS = ("loss", "accuracy", "macro_f1", "lr", "samples_per_s")
FLUSH_TIMEOUT_S = 30.0


def _mlflow():
    try:
        import mlflow  # noqa: F401
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise LaminaError("MLflow tracking needs the mlflow package: pip install 'lamina[mlflow]'") from None
    set_mlflow_client_defaults()
    return MlflowClient


def metric_items(record: dict, last_step: int) -> list[tuple[str, float, int]]:
    """(key, value, step) for one metrics.jsonl record: 'train_loss', 'val_accuracy', ... ; final
    evaluations become 'final_test_accuracy' etc. at the last training step."""
    split = record.get("split", "train")
    prefix = f"final_{split}_" if record.get("final") else f"{split}_"
    step = record["step"] if record.get("step") is not None else last_step
    return [(prefix + k, float(record[k]), int(step)) for k in METRIC_KEYS if isinstance(record.get(k), (int, float))]


class MlflowTracker:
    """One MLflow run mirroring one lamina run."""

    def __init__(self, uri: str, experiment: str, run_name: str, params: dict, tags: dict, run_id: str | None = None):
        client_cls = _mlflow()
        self.uri = uri
        self.client = client_cls(tracking_uri=uri)
        self.problems: list[str] = []
        self.unlogged_metrics = 0
        self.last_step = 0
        from mlflow.entities import Param, RunTag

        try:
            if run_id is None:
                exp = self.client.get_experiment_by_name(experiment)
                exp_id = exp.experiment_id if exp else self.client.create_experiment(experiment)
                self.run_id = self.client.create_run(exp_id, run_name=run_name, tags=tags).info.run_id
                items = [Param(k, str(v)[:6000]) for k, v in flatten(params).items()]  # MLflow's value limit
                for start in range(0, len(items), 100):  # MLflow takes at most 100 params per call
                    self.client.log_batch(self.run_id, params=items[start : start + 100])
            else:
                self.run_id = run_id
                self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])
            self.experiment_id = self.client.get_run(self.run_id).info.experiment_id
        except Exception as e:  # any failure here means no tracking for this run, never a failed training
            raise TrackingUnavailable(f"{uri}: {_reason(e)}") from None
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._send, name="lamina-mlflow", daemon=True)
        self._thread.start()

    def log(self, record: dict) -> None:
        """Queue one metrics.jsonl record (returns at once)."""
        items = metric_items(record, self.last_step)
        if record.get("step") is not None:
            self.last_step = int(record["step"])
        if items:
            self._queue.put(items)

    def _send(self) -> None:
        from mlflow.entities import Metric

        while True:
            batch = self._queue.get()
            if batch is None:
                return
            while len(batch) < 900:  # MLflow takes at most 1000 metrics per call
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch += more
            now = int(time.time() * 1000)
            try:
                self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, s) for k, v, s in batch])
            except Exception as e:
                self.unlogged_metrics += len(batch)
                if len(self.problems) < 5:
                    self.problems.append(f"metrics not logged: {_reason(e)}")

    def finish(self, status: str, run_dir: Path, register: str | None = None, alias: str | None = None) -> dict:
        """Send queued metrics, the run's files as artifacts, the status; register the model package.

        Returns {"uri", "run_id", "experiment_id", "model_version"?, "unlogged"}: "unlogged" lists
        what did not reach the server (empty when everything did).
        """
        with contextlib.redirect_stdout(sys.stderr):  # MLflow prints "View run at ..." links; stdout may be --json
            return self._finish(status, run_dir, register, alias)

    def _finish(self, status: str, run_dir: Path, register: str | None, alias: str | None) -> dict:
        self._queue.put(None)
        self._thread.join(FLUSH_TIMEOUT_S)
        if self._thread.is_alive():
            self.problems.append(f"metrics still unsent after {FLUSH_TIMEOUT_S:.0f} s were dropped")
        info: dict = {"uri": self.uri, "run_id": self.run_id, "experiment_id": self.experiment_id}
        for name in ("report.html", "config.yaml", "data.json", "metrics.jsonl"):
            if (run_dir / name).is_file():
                self._try(f"artifact {name}", self.client.log_artifact, self.run_id, str(run_dir / name))
        if (run_dir / "model").is_dir():
            self._try("artifact model/", self.client.log_artifacts, self.run_id, str(run_dir / "model"), "model")
        if register and status == "completed" and not any(p.startswith("artifact model/") for p in self.problems):
            version = self._try("model registration", self._register, register, alias)
            if version is not None:
                info.update(registered_model=register, model_version=version, alias=alias)
        self._try(
            "run status", self.client.set_terminated, self.run_id, "FINISHED" if status == "completed" else "FAILED"
        )
        if self.unlogged_metrics:
            self.problems.insert(0, f"{self.unlogged_metrics} metric values not logged")
        info["unlogged"] = list(self.problems)
        return info

    def _register(self, name: str, alias: str | None) -> str:
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(name)
        except MlflowException as e:
            if "RESOURCE_ALREADY_EXISTS" not in str(e.error_code):
                raise
        source = f"{self.client.get_run(self.run_id).info.artifact_uri}/model"
        version = self.client.create_model_version(name, source, run_id=self.run_id).version
        if alias:
            self.client.set_registered_model_alias(name, alias, version)
        return str(version)

    def _try(self, what: str, fn, *args):
        try:
            return fn(*args)
        except Exception as e:
            self.problems.append(f"{what} not logged: {_reason(e)}")
            return None


class TrackingUnavailable(Exception):
    """The tracking server could not be reached or refused the run; training goes on without it."""


def _reason(e: Exception) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:300]


def fetch_registered_model(uri: str, tracking_uri: str | None, into: Path) -> tuple[str, str, Path]:
    """Download the package a registry URI points to: ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.

    Returns (NAME, the version it resolved to, local package directory).
    """
    client_cls = _mlflow()
    tracking_uri = use_tracking_credentials(tracking_uri)
    if not tracking_uri:
        raise LaminaError(f"{uri}: needs a tracking server: pass --tracking-uri URI or set MLFLOW_TRACKING_URI")
    body = uri[len("models:/") :]
    name, sep, alias = body.partition("@")
    version = None
    if not sep:
        name, _, version = body.partition("/")
        if not version.isdigit():
            raise LaminaError(f"{uri}: expected models:/NAME@ALIAS or models:/NAME/VERSION")
    if not name:
        raise LaminaError(f"{uri}: expected models:/NAME@ALIAS or models:/NAME/VERSION")
    client = client_cls(tracking_uri=tracking_uri)
    try:
        mv = client.get_model_version_by_alias(name, alias) if sep else client.get_model_version(name, version)
    except Exception as e:
        raise LaminaError(f"{uri}: not found at {tracking_uri} ({_reason(e)})") from None
    import mlflow.artifacts

    target = into / f"{name}-v{mv.version}"
    target.mkdir(parents=True, exist_ok=True)
    try:
        if mv.run_id:
            local = mlflow.artifacts.download_artifacts(
                run_id=mv.run_id, artifact_path="model", dst_path=str(target), tracking_uri=tracking_uri
            )
        else:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=mv.source, dst_path=str(target), tracking_uri=tracking_uri
            )
    except Exception as e:
        raise LaminaError(f"{uri}: version {mv.version} could not be downloaded ({_reason(e)})") from None
    return name, str(mv.version), Path(local)
