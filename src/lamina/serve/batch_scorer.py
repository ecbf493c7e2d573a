"""Batch scoring inside Ray Data: a callable class for ``map_batches``.

    ds.map_batches(lamina.BatchScorer, fn_constructor_kwargs={"model": PACKAGE}, batch_format="pandas", concurrency=2)

Each actor loads the package once (ONNX Runtime, no torch) with as many threads as the CPUs Ray gave it, and answers
every batch with the columns ``lamina predict --output`` writes (lamina.serve.frames): the batch's path or text
column is kept, its bytes column is not (the answer would carry every file twice), and a file that cannot be read or
decoded gets its reason in ``error`` while the job goes on.
"""

from __future__ import annotations

from pathlib import Path

from lamina.serve.frames import FILE_COLUMNS, answer_frame, frame_inputs
from lamina.serve.runtime import load_served_model
from lamina.serve.score import answer_rows


class BatchScorer:
    """Answers pandas batches of paths, file bytes or texts with a model package (see the module's docstring)."""

    def __init__(self, model: str | Path, top_k: int = 5, threads: int | None = None):
        self.top_k = top_k
        self.served = load_served_model(str(model), threads=threads if threads is not None else _ray_cpus())

    def __call__(self, batch):
        """A pandas DataFrame -> the same rows with the answer columns (and "error") instead of file bytes."""
        answers = answer_frame(self.served, answer_rows(self.served, frame_inputs(self.served, batch), self.top_k))
        kept = batch[[c for c in batch.columns if str(c).lower() not in FILE_COLUMNS and c not in answers.columns]]
        answers.index = kept.index
        return kept.join(answers)


def _ray_cpus() -> int:
    """The CPUs Ray assigned to this actor (0 = ONNX Runtime's default, all cores, outside Ray)."""
    try:
        import ray
    except ImportError:
        return 0
    if not ray.is_initialized():
        return 0
    return max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
