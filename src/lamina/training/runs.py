"""Reading run directories back: `lamina runs ls | show | compare`. No torch needed.

Status comes from run.json: completed, failed, interrupted, running — and "crashed" for a
run marked running whose process no longer exists on this machine.
"""

from __future__ import annotations

import os
from pathlib import Path

from lamina.common.dotted import flatten
from lamina.common.errors import LaminaError
from lamina.common.files import read_json
from lamina.training.run import read_metrics


def _pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, TypeError, ValueError):
        return True
    return True


def _yaml(path: Path) -> dict:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}


def _last_val(path: Path) -> dict | None:
    vals = [r for r in read_metrics(path) if r.get("split") == "val" and not r.get("final")]
    return vals[-1] if vals else None


def summarize(path: str | Path) -> dict:
    """One run: name, status, modality, model, best/final metrics, times.

    Raises:
        LaminaError: ``path`` is not a run directory (no run.json).
    """
    p = Path(path)
    if not (p / "run.json").is_file():
        raise LaminaError(f"{p}: not a run directory (no run.json).")
    info = read_json(p / "run.json")
    status = info.get("status", "unknown")
    if status == "running" and not _pid_alive(info.get("pid")):
        status = "crashed"
    cfg = _yaml(p / "config.yaml")
    result = info.get("result") or {}
    metrics = result.get("metrics", {})
    last_val = _last_val(p)
    return {
        "run": str(p),
        "name": p.resolve().name,
        "status": status,
        "modality": cfg.get("data", {}).get("modality"),
        "model": cfg.get("model", {}).get("name"),
        "val_accuracy": metrics.get("val", {}).get("accuracy", last_val.get("accuracy") if last_val else None),
        "test_accuracy": metrics.get("test", {}).get("accuracy"),
        "epochs": result.get("epochs", (last_val or {}).get("epoch", -1) + 1 if last_val else None),
        "started": info.get("started"),
        "elapsed_s": info.get("elapsed_s"),
        "error": info.get("error"),
    }


def list_runs(root: str | Path) -> list[dict]:
    """Every run directory directly under ``root`` (or ``root`` itself when it is a run), newest first."""
    r = Path(root)
    if not r.is_dir():
        raise LaminaError(f"{r}: no such folder of runs.")
    if (r / "run.json").is_file():
        return [summarize(r)]
    runs = [summarize(d) for d in sorted(r.iterdir()) if (d / "run.json").is_file()]
    return sorted(runs, key=lambda x: x["started"] or "", reverse=True)


def show_run(path: str | Path) -> dict:
    """A run's summary plus its resolved config, final metrics and where its files are."""
    p = Path(path)
    out = summarize(p)
    out["config"] = _yaml(p / "config.yaml")
    out["metrics"] = (read_json(p / "run.json").get("result") or {}).get("metrics", {})
    out["files"] = {
        name: str(p / name)
        for name in ("config.yaml", "metrics.jsonl", "data.json", "model", "checkpoints", "report.html")
        if (p / name).exists()
    }
    data = p / "data.json"
    out["data_fingerprint"] = read_json(data).get("fingerprint") if data.is_file() else None
    return out


def compare_runs(a: str | Path, b: str | Path) -> dict:
    """Config keys whose values differ, and the two runs' metrics side by side."""
    ra, rb = show_run(a), show_run(b)
    fa, fb = flatten(ra["config"]), flatten(rb["config"])
    diff = {k: [fa.get(k), fb.get(k)] for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)}
    keys = ("status", "val_accuracy", "test_accuracy", "epochs", "elapsed_s", "data_fingerprint")
    return {"runs": [ra["run"], rb["run"]], "config_diff": diff, "side_by_side": {k: [ra[k], rb[k]] for k in keys}}
