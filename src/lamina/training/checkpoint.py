"""Checkpoints: safetensors for tensors, JSON for the rest, a sha256 manifest, atomic swaps.

Layout of ``run/checkpoints/<tag>/`` (tag = "last" or "best")::

    model.safetensors   weights
    state.safetensors   optimizer moments and RNG states (all tensors)
    state.json          counters, optimizer hyperparameters, best metric
    manifest.json       sha256 of the three files above

A checkpoint is written to a temporary folder, fsynced, then swapped in by rename, so a
crash leaves the previous checkpoint or the new one, never a mix. The previous copy stays
as ``.<tag>.old``; loading verifies the manifest and falls back to that copy when the
current one is missing or does not match. No pickle.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from lamina.common.errors import LaminaError
from lamina.common.files import NoRoom, atomic_write_bytes, fsync_dir, read_json, sha256_file, write_json
from lamina.models.network import current_keys

FILES = ("model.safetensors", "state.safetensors", "state.json")


class CheckpointError(LaminaError):
    """A checkpoint is missing, truncated or does not match its manifest."""


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into tensors (for safetensors) and plain values (for JSON)."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, state in sd["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{name}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{idx}.{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Inverse of :func:`optimizer_tensors`."""
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for key, value in meta["scalars"].items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    # Checkpoints store contiguous tensors; a channels-last parameter's moments must be
    # channels-last again, as the run that wrote them had them. Fused AdamW steps over raw
    # memory, so a moment in another layout than its parameter makes the resumed run differ.
    for p, values in opt.state.items():
        for name, value in values.items():
            if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                values[name] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the weights that later optimizer steps do not change."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


def save_checkpoint(
    directory: str | Path,
    tag: str,
    weights: dict[str, torch.Tensor],
    extra_tensors: dict[str, torch.Tensor],
    state: dict,
) -> Path:
    """Atomically write checkpoint ``tag`` under ``directory``; returns its folder.

    Args:
        weights: the model's state dict (CPU tensors, e.g. from :func:`snapshot`).
        extra_tensors: optimizer moments, RNG states.
        state: JSON-ready counters and settings.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    final = root / tag
    tmp = root / f".{tag}.tmp-{os.getpid()}"
    old, trash = root / f".{tag}.old", root / f".{tag}.trash-{os.getpid()}"
    for pattern in (f".{tag}.tmp-*", f".{tag}.trash-*"):  # left by killed processes; the run lock says none is writing
        for stale in root.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)
    try:
        tmp.mkdir()
        atomic_write_bytes(tmp / "model.safetensors", save(weights))
        atomic_write_bytes(
            tmp / "state.safetensors", save(extra_tensors) if extra_tensors else save({"_empty": torch.zeros(0)})
        )
        write_json(tmp / "state.json", state)
        write_json(tmp / "manifest.json", {"files": {name: sha256_file(tmp / name) for name in FILES}})
        fsync_dir(tmp)
    except (OSError, NoRoom) as e:  # disk full, quota, file size limit: the previous checkpoint was not touched
        shutil.rmtree(tmp, ignore_errors=True)
        reason = e.strerror if isinstance(e, OSError) else str(e).split("(", 1)[-1].split(")", 1)[0]
        raise CheckpointError(
            f"{root}: cannot write the '{tag}' checkpoint ({reason}); the previous checkpoint is "
            "intact. Free disk space, then run the same command to resume."
        ) from None
    # Only renames until the new checkpoint is in place: a kill never leaves a half-deleted fallback (deleting the
    # previous .old in place could be cut short, and then a damaged current copy had nothing intact behind it).
    if final.exists():
        if old.exists():
            os.replace(old, trash)
        os.replace(final, old)
    os.replace(tmp, final)
    fsync_dir(root)
    shutil.rmtree(trash, ignore_errors=True)
    return final


def verify(folder: Path) -> None:
    """Raise CheckpointError unless every file matches the manifest."""
    try:
        manifest = read_json(folder / "manifest.json")
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{folder}: unreadable manifest ({e})") from None
    for name in FILES:
        expected = manifest.get("files", {}).get(name)
        if expected is None or not (folder / name).is_file():
            raise CheckpointError(f"{folder / name}: missing")
        if sha256_file(folder / name) != expected:
            raise CheckpointError(f"{folder / name}: sha256 does not match the manifest (truncated or corrupted)")


def load_checkpoint(
    directory: str | Path, tag: str
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict, list[str]]:
    """Load checkpoint ``tag``, falling back to the previous copy if the current one is damaged.

    Returns:
        (weights, extra tensors, state, problems) where problems lists what was rejected.
    Raises:
        CheckpointError: no intact copy exists.
    """
    root = Path(directory)
    problems: list[str] = []
    for folder in (root / tag, root / f".{tag}.old"):
        if not folder.exists():
            continue
        try:
            verify(folder)
            return (
                current_keys(load_file(folder / "model.safetensors")),
                load_file(folder / "state.safetensors"),
                json.loads((folder / "state.json").read_text()),
                problems,
            )
        except CheckpointError as e:
            problems.append(str(e))
    raise CheckpointError(f"{root / tag}: no intact checkpoint" + (f" ({'; '.join(problems)})" if problems else ""))


class CheckpointWriter:
    """Writes checkpoints on a background thread so training does not wait for the disk.

    The caller passes snapshots (copies); one write is in flight at a time, and ``wait``
    re-raises any error the write met.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, jobs: list[tuple[str, dict, dict, dict]]) -> None:
        """Queue (tag, weights, extra tensors, state) writes, in order, after the previous batch."""
        self.wait()

        def work():
            try:
                for job in jobs:
                    save_checkpoint(self.directory, *job)
            except BaseException as e:  # surfaced by wait()
                self._error = e

        self._thread = threading.Thread(target=work, name="lamina-checkpoint", daemon=False)
        self._thread.start()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
