"""The run directory: config.yaml, data.json, metrics.jsonl, run.json, checkpoints/, model/.

``--output DIR`` makes exactly DIR. ``run.json`` says whether the run is running,
completed or failed (a crashed run stays "running" with a pid that is gone). A training
holds ``.DIR.lock`` beside DIR for its whole life (an flock, which the kernel releases when
the process dies, even by SIGKILL), so a second training on the same DIR is refused instead
of deleting or "resuming" a running one. The lock file sits beside DIR, not in it, because
starting over deletes DIR's contents.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from lamina.common.version import __version__
from lamina.common.config import Config, dump_config
from lamina.common.errors import LaminaError
from lamina.common.runtime import redact_credentials
from lamina.common.files import atomic_write_text, read_json, write_json


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_metrics(run_path: str | Path) -> list[dict]:
    """Every record of a run's metrics.jsonl, skipping a line torn by a crash; [] when there is none."""
    rows = []
    try:
        with open(Path(run_path) / "metrics.jsonl", encoding="utf-8") as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    continue
    except OSError:
        return []
    return rows


@contextlib.contextmanager
def run_lock(path: str | Path):
    """Hold the exclusive lock of the run directory ``path`` for the ``with`` block.

    Raises:
        LaminaError: another live process holds it (the message names its pid).
    """
    path = Path(path)
    lock = path.parent / f".{path.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise LaminaError(
                f"--output {path}: another training (pid {pid}) is using it. Wait for it to end, "
                "or choose another --output."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays (unlinking it would let two processes lock two files)


class RunDir:
    """Writes the files of one run."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.model = self.path / "model"
        self._metrics = None
        self._started = time.monotonic()
        self.tracker = None  # receives every metrics record too (lamina.training.tracking)

    def create(self, overwrite: bool = False) -> "RunDir":
        """Make the directory; refuse one that already holds files unless ``overwrite``."""
        if self.path.exists() and not self.path.is_dir():
            raise LaminaError(f"--output {self.path}: exists and is not a directory.")
        if self.path.exists() and any(self.path.iterdir()):
            if not overwrite:
                raise LaminaError(
                    f"--output {self.path}: already holds a run. Choose another --output or pass --overwrite."
                )
            import shutil

            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def write_config(self, cfg: Config) -> None:
        atomic_write_text(self.path / "config.yaml", dump_config(cfg))

    def write_data(self, summary: dict) -> None:
        write_json(self.path / "data.json", summary)

    def set_status(self, status: str, **extra) -> None:
        """Record running/completed/failed in run.json, with times and the command line."""
        path = self.path / "run.json"
        info = (
            read_json(path)
            if path.exists()
            else {
                "started": _now(),
                "pid": os.getpid(),
                "argv": [redact_credentials(a) for a in sys.argv],
                "lamina": __version__,
            }
        )
        info.update(status=status, updated=_now(), elapsed_s=round(time.monotonic() - self._started, 3), **extra)
        write_json(path, info)

    def log_metrics(self, record: dict) -> None:
        """Append one JSON object to metrics.jsonl (flushed, so a crash keeps every line written)."""
        if self._metrics is None:
            self._metrics = open(self.path / "metrics.jsonl", "a", encoding="utf-8")
        self._metrics.write(json.dumps(record) + "\n")
        self._metrics.flush()
        if self.tracker is not None:
            self.tracker.log(record)

    def metrics_bytes(self) -> int:
        """Current length of metrics.jsonl (recorded in checkpoints)."""
        if self._metrics is not None:
            self._metrics.flush()
        path = self.path / "metrics.jsonl"
        return path.stat().st_size if path.exists() else 0

    def truncate_metrics(self, length: int) -> None:
        """Cut metrics.jsonl back to ``length`` bytes: what a resumed run will log again."""
        self.close()
        path = self.path / "metrics.jsonl"
        if path.exists():
            with open(path, "r+b") as f:
                f.truncate(length)

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None


class NullRun:
    """A run directory that keeps nothing: what ranks other than 0 log to, and the speed probe's throwaway trainer."""

    def log_metrics(self, record: dict) -> None:
        pass

    def metrics_bytes(self) -> int:
        return 0

    def truncate_metrics(self, length: int) -> None:
        pass
