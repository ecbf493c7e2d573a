"""A model package answered through ONNX Runtime: what ``lamina.load`` gives where torch is not installed.

The serving-only install (``pip install lamina``) has no torch, so it runs the package's exported graph, exactly as
``lamina serve`` does: the same preprocessing (lamina.data's modality objects), the same graph, the same answers
(lamina.data.task). ``predict`` takes what the torch Predictor takes and returns the same dicts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina.serve.runtime import ServedModel, load_served_model

BATCH = 256  # inputs per graph run


class OnnxPredictor:
    """``predict`` over a loaded ServedModel (a package with model.onnx)."""

    def __init__(self, served: ServedModel):
        self.served = served
        self.meta = served.meta
        self.labels: list[str] = served.labels
        self.task = served.task
        self.modality: str = served.modality
        self.prep = served.prep
        self.tokenizer = served.tokenizer

    @classmethod
    def load(cls, path: str | Path) -> "OnnxPredictor":
        return cls(load_served_model(str(path)))

    def encode(self, items: list) -> np.ndarray:
        """The graph's input for ``items`` (files, bytes, arrays or texts, as the modality takes them)."""
        return self.prep.inputs(list(items), self.tokenizer).astype(self.prep.dtype, copy=False)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """The task's scores (N, outputs) for the graph's inputs (see encode)."""
        parts = [self.served.run(self.served.check_batch(x[i : i + BATCH])) for i in range(0, len(x), BATCH)]
        return np.concatenate(parts) if parts else np.zeros((0, self.task.outputs), np.float32)

    def predict(self, inputs, top_k: int = 5) -> list[dict]:
        """The answer for each input, as the server gives it (see lamina.models.package.Predictor.predict)."""
        items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        answers = self.task.answer(self.scores(self.encode(items)), top_k)
        return [
            {"input": str(item) if isinstance(item, (str, Path)) else type(item).__name__, **a}
            for item, a in zip(items, answers)
        ]
