"""The model package: ``model.safetensors`` + ``lamina.json``, and a Predictor built from it.

``lamina.json`` carries everything needed to rebuild and use the network without the
training run: labels, modality, preprocessing, resolved model config, input/output
signature, metrics, data fingerprint and versions; a text model adds ``tokenizer.json``.
No pickle anywhere.
"""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from lamina.common.version import __version__
from lamina.common.config import ModelConfig
from lamina.common.errors import DataError
from lamina.common.files import atomic_write_bytes
from lamina.common.package import FORMAT, file_hashes, find_package, package_file, read_meta, write_meta
from lamina.data.audio import AudioPreprocess
from lamina.data.image import ImagePreprocess
from lamina.data.modality import preprocess_from_meta
from lamina.data.task import Task
from lamina.data.text_data import TextPreprocess
from lamina.data.tokenizer import save_tokenizer
from lamina.models.modality import torch_modality
from lamina.models.output import activate
from lamina.models.network import FullNetwork, current_keys
from lamina.models.registry import build_model


PARITY_FILE = "parity.safetensors"  # real inputs of the run (test, then val), as the exported graph takes them
PARITY_SAMPLES, PARITY_BYTES = 64, 4 << 20  # at most this many, and this many bytes (27 photos at 224 x 224)


def versions() -> dict:
    return {"lamina": __version__, "torch": torch.__version__, "python": platform.python_version()}


def package_meta(
    *,
    name,
    modality,
    labels,
    prep: ImagePreprocess | TextPreprocess | AudioPreprocess,
    mean,
    std,
    model_cfg: ModelConfig,
    metrics,
    fingerprint,
    task: Task | None = None,
) -> dict:
    """The content of lamina.json for a model of images, texts or audio clips (``task``: default single-label)."""
    preprocessing = torch_modality(modality).preprocessing(prep, mean, std)
    task = task or Task("classification", list(labels))
    return {
        "format": FORMAT,
        "name": name,
        "modality": modality,
        "labels": list(labels),
        "task": task.to_dict(),
        "preprocessing": preprocessing,
        "model": model_cfg.model_dump(mode="json"),
        "input": prep.input_spec(),
        "output": {"name": "logits", "dtype": "float32", "shape": [-1, task.outputs]},
        "metrics": metrics,
        "data_fingerprint": fingerprint,
        "versions": versions(),
    }


def save_weights(path: Path, model: torch.nn.Module) -> None:
    """Write a state dict as safetensors, atomically."""
    from safetensors.torch import save

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, save(state))


def parity_samples(splits: dict, prep) -> np.ndarray | None:
    """Real inputs for the export's parity check and int8 calibration, as the exported graph takes them: the first of
    the test split, then of val, up to PARITY_SAMPLES and PARITY_BYTES (None when neither split exists)."""
    parts, twin, n = [], torch_modality(prep), 0
    for name in ("test", "val"):
        split = splits.get(name)
        if split is None or not len(split):
            continue
        per_sample = max(1, int(np.prod(split.x.shape[1:])) * split.x.dtype.itemsize)
        take = min(len(split), PARITY_SAMPLES - n, PARITY_BYTES // per_sample - n)
        if take > 0:
            parts.append(twin.served(split.x[torch.arange(take)]))
            n += take
    return np.concatenate(parts) if parts else None


def save_package(
    directory: str | Path, model: torch.nn.Module, meta: dict, tokenizer=None, parity: np.ndarray | None = None
) -> Path:
    """Write model.safetensors, lamina.json (and a text model's tokenizer.json, the parity samples) into ``directory``."""
    from safetensors.numpy import save

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    save_weights(d / "model.safetensors", model)
    if tokenizer is not None:
        save_tokenizer(tokenizer, d)
    if parity is not None:
        # as every package file: atomically and readable by others (safetensors' save_file made it 0600, so a server
        # running as another user, as in the image, could not read it)
        atomic_write_bytes(d / PARITY_FILE, save({"inputs": np.ascontiguousarray(parity)}))
    names = [
        "model.safetensors",
        meta["preprocessing"].get("tokenizer") if tokenizer is not None else None,
        PARITY_FILE if parity is not None else None,
    ]
    meta["files"] = file_hashes(d, [n for n in names if n])
    write_meta(d, meta)
    return d


def read_parity_samples(package: Path, meta: dict) -> np.ndarray | None:
    """The package's own parity samples (checked against lamina.json's sha256 when it was read), or None."""
    from safetensors.numpy import load_file as load_arrays

    if PARITY_FILE not in meta.get("files", {}):
        return None
    return load_arrays(str(package_file(package, PARITY_FILE)))["inputs"]


def load_model(path: str | Path) -> tuple[FullNetwork, dict]:
    """Rebuild the network of a package and load its weights (eval mode, CPU)."""
    d = find_package(path)
    meta = read_meta(d)
    pre = meta["preprocessing"]
    shape = tuple(meta["input"]["shape"][1:])
    model = build_model(
        ModelConfig.model_validate(meta["model"]),
        shape,
        Task.from_meta(meta).outputs,
        pre.get("mean", []),
        pre.get("std", []),
        meta["modality"],
        preprocess_from_meta(meta),
        load_pretrained=False,
    )
    weights = package_file(d, "model.safetensors")
    try:
        state = load_file(weights)
    except Exception as e:  # safetensors raises its own error type for a truncated or foreign file
        raise DataError(
            f"{weights}: not a readable safetensors file ({str(e)[:200]}); copy the package again."
        ) from None
    try:
        model.load_state_dict(current_keys(state), strict=True)
    except RuntimeError as e:  # torch lists every tensor that does not fit; the first says enough
        first = next((line.strip() for line in str(e).splitlines()[1:] if line.strip()), str(e))
        raise DataError(
            f"{weights}: the weights do not fit the {meta['model'].get('name')} network lamina.json describes "
            f"({first[:200]}); a package written by another lamina version, or a changed file: retrain it"
        ) from None
    model.eval()
    return model, meta


@torch.no_grad()
def stored_scores(model, twin, task: Task, x: torch.Tensor, device: str = "cpu", batch_size: int = 256) -> torch.Tensor:
    """The task's scores (N, outputs) of a FullNetwork for inputs in their stored form, ``batch_size`` at a time
    (``twin``: the modality's lamina.models.modality object)."""
    out = []
    for start in range(0, len(x), batch_size):
        batch = twin.model_input(x[start : start + batch_size], device)
        out.append(activate(task, model(batch).float()).cpu())
    return torch.cat(out) if out else torch.zeros((0, task.outputs))


class Predictor:
    """A loaded model package: ``predict`` takes image files, bytes, PIL images or uint8 arrays; audio files; or texts."""

    def __init__(self, model: FullNetwork, meta: dict, device: str = "cpu", tokenizer=None):
        self.model = model.to(device)
        self.meta = meta
        self.device = device
        self.labels: list[str] = meta["labels"]
        self.task = Task.from_meta(meta)
        self.modality: str = meta["modality"]
        self.prep = preprocess_from_meta(meta)
        self.twin = torch_modality(self.prep)
        self.tokenizer = tokenizer

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "Predictor":
        model, meta = load_model(path)
        return cls(model, meta, device, preprocess_from_meta(meta).tokenizer_in(find_package(path)))

    def encode(self, items: list) -> torch.Tensor:
        """The stored form of inputs: uint8 images (N, C, H, W), int32 token ids (N, max_tokens) or int16 clips (N, samples)."""
        return self.twin.stored(self.prep.inputs(list(items), self.tokenizer))

    def scores(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """The task's scores (N, outputs) for stored inputs (see encode): class probabilities, per-label
        probabilities, or predicted values."""
        return stored_scores(self.model, self.twin, self.task, x, self.device, batch_size)

    probabilities = scores  # the name before multi-label and regression

    def predict(self, inputs, top_k: int = 5) -> list[dict]:
        """The answer for each input, as the server gives it.

        Args:
            inputs: one input or a list: file paths, bytes, PIL images or uint8 (H, W, C) arrays
                for image models; file paths, bytes or int16 arrays for audio; strings for text models.
            top_k: classification: how many labels to return per input (at most the number of labels).
        Returns:
            One dict per input with "input" and the task's answer (lamina.data.task.Task.answer):
            {"label", "score", "top_k"}; multi-label {"labels", "scores"}; regression {"value"}.
        """
        items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        answers = self.task.answer(self.scores(self.encode(items)).numpy(), top_k)
        return [
            {"input": str(item) if isinstance(item, (str, Path)) else type(item).__name__, **a}
            for item, a in zip(items, answers)
        ]
