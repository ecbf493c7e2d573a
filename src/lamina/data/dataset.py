"""From a data path to prepared splits: the modality that reads it, then its data path (lamina.data.file_splits
for files, lamina.data.text_splits for tables of texts), and `lamina validate`'s account of it."""

from __future__ import annotations

from pathlib import Path

from lamina.common.config import DataConfig
from lamina.common.errors import DataError
from lamina.common.listing import problem
from lamina.data.layout import Layout
from lamina.data.modality import modality_of
from lamina.data.prepared import PreparedData, SplitData
from lamina.data.task import Task

__all__ = ["PreparedData", "SplitData", "prepare_eval_data", "prepare_training_data", "validate_data"]


def prepare_training_data(
    cfg: DataConfig, seed: int, tokenizer_file: str | Path | None = None, layout: Layout | None = None
) -> PreparedData:
    """Scan, split, decode and describe the training data named by ``cfg.path``.

    Args:
        tokenizer_file: a tokenizer.json to use (a resumed run's, a pretrained encoder's) instead of training one on
            the train split, for modalities that tokenize.
        layout: the scan of ``cfg.path`` when the caller made it already (scan_images).
    Raises:
        DataError: missing path, bad layout, a single class, or (without skip_bad) a bad file or row.
    """
    if not cfg.path:
        raise DataError("data.path is not set. Pass a data folder (lamina train DATA) or set data.path in the config.")
    kind, layout = modality_of(cfg, layout)
    return kind.prepare(cfg, seed, tokenizer_file, layout)


def validate_data(cfg: DataConfig, seed: int) -> dict:
    """Every problem of the training data at once: `lamina validate`.

    Decodes every file (through the cache) and runs lamina.data.checks. Returns
    {"path", "files", "counts", "columns", "errors", "warnings"}: errors (bad or missing files, a single
    class, labels only in val/test) stop a training; warnings (imbalance, leakage, near
    duplicates, ignored columns) do not. "columns" is what the model would read of a table (None for files).
    Problems hold every item; lamina.common.listing bounds what is shown.
    """
    try:
        data = prepare_training_data(cfg.model_copy(update={"skip_bad": True}), seed)
    except DataError as e:
        return {
            "path": str(cfg.path),
            "files": None,
            "counts": {},
            "columns": None,
            "errors": [problem("error", "data", str(e))],
            "warnings": [],
        }
    errors = []
    if data.skipped:
        paths = [f"{s['path']}: {s['reason']}" for s in data.skipped]
        errors.append(problem("error", "bad-files", f"{len(paths)} files or rows cannot be used", paths))
    files = sum(len(d) for d in data.splits.values()) + len(data.skipped)
    return {
        "path": str(cfg.path),
        "files": files,
        "counts": data.counts(),
        "columns": data.column_use(),
        "errors": errors,
        "warnings": data.checks,
    }


def prepare_eval_data(
    path: str | Path,
    prep,
    labels: list[str],
    split: str | None,
    recorded: dict[str, list[str]] | None,
    skip_bad: bool = False,
    use_cache: bool = True,
    tokenizer=None,
    columns: tuple[str | None, str | None] = (None, None),
    task: Task | None = None,
) -> tuple[SplitData, list[dict]]:
    """Labeled data for evaluation, preprocessed as the model was trained.

    Args:
        split: None = every sample; else that split folder/column, or the split recorded at
            training time (``recorded``) when the data has none.
        prep: the model's modality object (lamina.data.modality.preprocess_from_meta).
        tokenizer, columns: the package's tokenizer and the table's (input, label) columns it was trained on
            (None = inferred), where the modality has them.
        task: the model's task (default: single-label classification over ``labels``).
    Raises:
        DataError: unknown split, a label the model does not know, or a target that is not a number.
    """
    task = task or Task("classification", list(labels))
    return prep.read_eval(path, task, split, recorded, skip_bad, use_cache, tokenizer, columns)
