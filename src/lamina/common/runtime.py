"""Facts about the machine and the process environment. The only module that reads env vars.

torch is imported inside functions, so the CLI starts fast and serving can import this file.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where decoded data is cached: $LAMINA_CACHE_DIR, else $XDG_CACHE_HOME/lamina, else ~/.cache/lamina."""
    if os.environ.get("LAMINA_CACHE_DIR"):
        return Path(os.environ["LAMINA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lamina"


def is_tty(stream) -> bool:
    """True when progress can be drawn as a live bar (a terminal, and not disabled by $LAMINA_PLAIN)."""
    if os.environ.get("LAMINA_PLAIN"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def has_torch() -> bool:
    """Whether PyTorch is installed: the serving-only install (``pip install lamina``) has none."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def require_torch(what: str) -> None:
    """Refuse ``what`` (training, evaluation, export...) in an install without torch, naming the extra to install.

    Raises:
        LaminaError: torch is not installed (exit 2).
    """
    if not has_torch():
        from lamina.common.errors import LaminaError

        raise LaminaError(
            f"{what} needs PyTorch, which this install of lamina lacks (it serves and predicts only). "
            "Install the training extra: pip install 'lamina[train]'"
        )


def resolve_device(requested: str) -> str:
    """Map 'auto'|'cpu'|'cuda'|'cuda:N' to an available torch device string."""
    import torch

    from lamina.common.errors import LaminaError

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise LaminaError(f"--device {requested}: no CUDA device is available here. Use --device cpu or auto.")
    return requested


def bf16_supported(device: str) -> bool:
    """Whether bf16 autocast is fast on this device (native bf16 on the CPU, or a GPU that has it)."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    cpu = getattr(torch, "cpu", None)
    probe = getattr(cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(cpu, "_is_amx_tile_supported", None)
    return bool((probe and probe()) or (amx and amx()))


def set_threads(num_threads: int | None) -> int:
    """Set torch's intra-op threads (None = physical cores torch sees). Returns the count in use."""
    import torch

    if num_threads:
        torch.set_num_threads(num_threads)
    return torch.get_num_threads()


def serve_token_env() -> str | None:
    """$LAMINA_TOKEN: the serving token, kept out of the process list (None when unset)."""
    return os.environ.get("LAMINA_TOKEN")


def mlflow_tracking_uri() -> str | None:
    """$MLFLOW_TRACKING_URI, as MLflow users expect it to be honoured."""
    return os.environ.get("MLFLOW_TRACKING_URI") or None


def use_tracking_credentials(uri: str | None) -> str | None:
    """``uri`` without its ``user:password@`` part; the credentials reach MLflow through its own
    $MLFLOW_TRACKING_USERNAME / $MLFLOW_TRACKING_PASSWORD instead, so they never land in
    config.yaml, run.json, the report, the run's MLflow parameters or an error message."""
    if not uri:
        return uri
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    if parts.username:
        os.environ["MLFLOW_TRACKING_USERNAME"] = unquote(parts.username)
    if parts.password is not None:
        os.environ["MLFLOW_TRACKING_PASSWORD"] = unquote(parts.password)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def redact_credentials(text: str) -> str:
    """``text`` with the ``user:password@`` of any URL in it replaced by ``***@`` (for argv in run.json)."""
    import re

    return re.sub(r"(://)[^/@\s]+@", r"\1***@", text)


def set_mlflow_client_defaults() -> None:
    """Short MLflow HTTP retries and timeouts (unless the user set them): a dead tracking server
    then costs seconds, not MLflow's default minutes of backoff. The user's own values win."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def dist_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) set by torchrun for this process; (0, 1, 0) outside torchrun."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def dist_restart_count() -> int:
    """How many times torchrun has restarted this worker group ($TORCHELASTIC_RESTART_COUNT)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))


def dist_store() -> tuple[str, int, bool]:
    """(MASTER_ADDR, MASTER_PORT, whether torchrun's agent hosts the store) for this worker."""
    return (
        os.environ.get("MASTER_ADDR", "127.0.0.1"),
        int(os.environ.get("MASTER_PORT", 29500)),
        os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True",
    )
