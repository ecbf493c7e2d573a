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
from lamina.common.files import atomic_write_bytes, write_json
from lamina.common.package import FORMAT, file_hashes, find_package, package_file, read_meta
from lamina.data.audio import AudioDecodeError, AudioPreprocess, load_audio
from lamina.data.batches import as_model_input
from lamina.data.image import ImageDecodeError, ImagePreprocess, load_image
from lamina.data.preprocess import preprocess_from_meta
from lamina.data.task import Task
from lamina.data.text_data import TextPreprocess, tokenize
from lamina.data.tokenizer import load_tokenizer, save_tokenizer
from lamina.models.output import activate
from lamina.models.registry import Classifier, build_model



def versions() -> dict:
    return {"lamina": __version__, "torch": torch.__version__, "python": platform.python_version()}


def package_meta(*, name, modality, labels, prep: ImagePreprocess | TextPreprocess | AudioPreprocess, mean, std,
                 model_cfg: ModelConfig, metrics, fingerprint, task: Task | None = None) -> dict:
    """The content of lamina.json for a model of images, texts or audio clips (``task``: default single-label)."""
    preprocessing = {**prep.to_dict(), "mean": list(mean), "std": list(std)} if modality == "image" else prep.to_dict()
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


def save_package(directory: str | Path, model: torch.nn.Module, meta: dict, tokenizer=None) -> Path:
    """Write model.safetensors, lamina.json (and a text model's tokenizer.json) into ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    save_weights(d / "model.safetensors", model)
    if tokenizer is not None:
        save_tokenizer(tokenizer, d)
    meta["files"] = file_hashes(d, ["model.safetensors", meta["preprocessing"].get("tokenizer")] if tokenizer is not None
                                else ["model.safetensors"])
    write_json(d / "lamina.json", meta)
    return d


def load_model(path: str | Path) -> tuple[Classifier, dict]:
    """Rebuild the network of a package and load its weights (eval mode, CPU)."""
    d = find_package(path)
    meta = read_meta(d)
    pre = meta["preprocessing"]
    shape = tuple(meta["input"]["shape"][1:])
    model = build_model(ModelConfig.model_validate(meta["model"]), shape, Task.from_meta(meta).outputs, pre.get("mean", []), pre.get("std", []),
                        meta["modality"], preprocess_from_meta(meta), load_pretrained=False)
    weights = package_file(d, "model.safetensors")
    try:
        state = load_file(weights)
    except Exception as e:  # safetensors raises its own error type for a truncated or foreign file
        raise DataError(f"{weights}: not a readable safetensors file ({str(e)[:200]}); copy the package again.") from None
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, meta




class Predictor:
    """A loaded model package: ``predict`` takes image files, bytes, PIL images or uint8 arrays; audio files; or texts."""

    def __init__(self, model: Classifier, meta: dict, device: str = "cpu", tokenizer=None):
        self.model = model.to(device)
        self.meta = meta
        self.device = device
        self.labels: list[str] = meta["labels"]
        self.task = Task.from_meta(meta)
        self.modality: str = meta["modality"]
        self.prep = preprocess_from_meta(meta)
        self.tokenizer = tokenizer

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "Predictor":
        model, meta = load_model(path)
        tokenizer = load_tokenizer(find_package(path), meta["preprocessing"]["tokenizer"]) if meta["modality"] == "text" else None
        return cls(model, meta, device, tokenizer)

    def _decode(self, item) -> np.ndarray:
        if isinstance(self.prep, AudioPreprocess):
            if isinstance(item, np.ndarray):
                if item.shape != (self.prep.samples,) or item.dtype != np.int16:
                    raise DataError(f"array input: expected int16 ({self.prep.samples},), got {item.dtype} {item.shape}")
                return item
            try:
                return load_audio(Path(item) if isinstance(item, str) else item, self.prep).samples
            except FileNotFoundError:
                raise DataError(f"{item}: no such file.") from None
            except AudioDecodeError as e:
                raise DataError(f"{item}: cannot decode audio ({e}).") from None
        if isinstance(item, np.ndarray):
            arr = item if item.ndim == 3 else item[:, :, None]
            expected = (self.prep.size, self.prep.size, self.prep.channels)
            if arr.shape != expected or arr.dtype != np.uint8:
                raise DataError(f"array input: expected uint8 {expected}, got {arr.dtype} {arr.shape}")
            return arr
        try:
            return load_image(Path(item) if isinstance(item, str) else item, self.prep)
        except FileNotFoundError:
            raise DataError(f"{item}: no such file.") from None
        except ImageDecodeError as e:
            raise DataError(f"{item}: cannot decode image ({e}).") from None

    def encode(self, items: list) -> torch.Tensor:
        """The stored form of inputs: uint8 images (N, C, H, W), int32 token ids (N, max_tokens) or int16 clips (N, samples)."""
        if self.modality == "text":
            bad = next((i for i, t in enumerate(items) if not isinstance(t, str) or not t.strip()), None)
            if bad is not None:
                raise DataError(f"input {bad + 1}: expected a non-empty text, got {str(items[bad])[:40]!r}")
            return torch.from_numpy(tokenize(self.tokenizer, list(items), self.prep.max_tokens))
        if self.modality == "audio":
            return torch.from_numpy(np.stack([self._decode(i) for i in items]) if items else np.zeros((0, self.prep.samples), np.int16))
        arrays = np.stack([self._decode(i) for i in items]) if items else np.zeros((0, 1, 1, 1), np.uint8)
        return torch.from_numpy(arrays).permute(0, 3, 1, 2)

    @torch.no_grad()
    def scores(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """The task's scores (N, outputs) for stored inputs (see encode): class probabilities, per-label
        probabilities, or predicted values."""
        out = []
        for start in range(0, len(x), batch_size):
            batch = as_model_input(x[start : start + batch_size], self.device)
            out.append(activate(self.task, self.model(batch).float()).cpu())
        return torch.cat(out) if out else torch.zeros((0, self.task.outputs))

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
        return [{"input": str(item) if isinstance(item, (str, Path)) else type(item).__name__, **a} for item, a in zip(items, answers)]
