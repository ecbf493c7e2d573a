"""From a data path to tensors: scan, split, decode (through the cache), fingerprint.

The result holds each split as one tensor, which is small for the datasets lamina targets
on one machine and makes a batch a slice: images as uint8 (N, C, H, W) in channels-last
memory, texts as int32 token ids (N, max_tokens) (see lamina.data.text_data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lamina.data.fingerprint import fingerprint
from lamina.data.split_names import canonical_split
from lamina.common.config import DataConfig
from lamina.common.errors import DataError
from lamina.common.listing import bounded, names, problem
from lamina.data.audio import AudioDecodeError, AudioPreprocess, load_noise
from lamina.data.cache import CachedRows
from lamina.data.decode import decode_samples
from lamina.data.pixel_rows import PixelRows
from lamina.data.checks import check_samples
from lamina.data.image import ImagePreprocess
from lamina.data.image_facts import infer_prep
from lamina.data.layout import Layout, Sample, scan
from lamina.data.targets import balance_labels, check_known, integer_targets, make_task, split_samples
from lamina.data.task import Task
from lamina.data.text_data import (
    is_text_data,
    TextPreprocess,
    infer_max_tokens,
    read_table_samples,
    text_fingerprint,
    text_tokenizer,
    tokenize,
)
from lamina.data.tokenizer import lengths as token_counts


@dataclass
class SplitData:
    """One split as tensors."""

    # images: (N, C, H, W) uint8, channels-last (PixelRows: read from the cache file per batch); text: (N, max_tokens) int32 token ids; audio: (N, samples) int16
    x: torch.Tensor | PixelRows
    # classification: (N,) int64 label indices; multilabel: (N, K) float32 0/1; regression: (N,) float32 targets
    y: torch.Tensor
    keys: list[str]  # sample keys (paths relative to the data root, or "row N" of a table), aligned with x
    texts: list[str] | None = None  # text: the raw texts, aligned with x (for reports)
    hashes: list[str] | None = None  # images: content hashes of the files, aligned with x (keys of the feature cache)

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class PreparedData:
    """Everything training needs to know about its data."""

    modality: str
    root: str
    layout: str
    labels: list[str]
    prep: ImagePreprocess | TextPreprocess | AudioPreprocess
    splits: dict[str, SplitData]
    mean: list[float]  # images: per channel, pixel units 0..255, from the train split; text: []
    std: list[float]
    fingerprint: str  # sha256 over (split, label, content hash) of every sample
    split_record: dict[str, list[str]]  # split -> sample keys, replayable by evaluate
    skipped: list[dict] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)  # warnings from lamina.data.checks (imbalance, leakage)
    tokenizer: object = None  # text: the tokenizers.Tokenizer that made the ids
    columns: tuple[str, str] | None = None  # text: the (text, label) columns of the table
    ignored_columns: list[str] = field(default_factory=list)  # text: the table's other columns, not read
    noise: torch.Tensor | None = (
        None  # audio: background noise samples (T,) int16 for augmentation (_background_noise_/)
    )
    task: Task = field(default_factory=Task)  # what the labels are; task.labels == labels

    def counts(self) -> dict:
        """Per split: samples per label (multi-label: samples carrying it); regression: n, mean, std, min, max."""
        return {name: self.task.rules.counts(self.task, d.y.numpy()) for name, d in self.splits.items()}

    def summary(self) -> dict:
        """JSON-ready description, saved as data.json in the run."""
        return {
            "path": self.root,
            "layout": self.layout,
            "modality": self.modality,
            "labels": self.labels,
            "task": self.task.to_dict(),
            "preprocessing": self.prep.to_dict(),
            "counts": self.counts(),
            "fingerprint": self.fingerprint,
            "skipped": self.skipped,
            "checks": [bounded(c) for c in self.checks],
            "splits": self.split_record,
            **({"columns": list(self.columns), "ignored_columns": self.ignored_columns} if self.columns else {}),
        }

    def column_use(self) -> dict | None:
        """Tables: {"text", "label", "ignored"}, the columns the model reads and those it does not; None for files."""
        if not self.columns:
            return None
        return {"text": self.columns[0], "label": self.columns[1], "ignored": list(self.ignored_columns)}


def _to_split(arr, samples: list[Sample], task: Task, hashes: list[str] | None = None) -> SplitData:
    if isinstance(arr, CachedRows):
        x = PixelRows(arr)
    else:
        x = torch.from_numpy(arr)
        if x.dim() == 4:
            x = x.permute(0, 3, 1, 2)  # (N, H, W, C) memory viewed as (N, C, H, W): channels-last
    y = torch.from_numpy(task.targets([s.label for s in samples]))
    return SplitData(x, y, [s.key for s in samples], hashes=hashes if x.dim() == 4 else None)


def _mean_std(x: torch.Tensor, chunk: int = 32) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images (N, C, H, W), summed ``chunk`` images at a time: a float64 copy of
    a whole split would take 8 bytes per pixel (3.5 GB for 3,000 photos at 224 px; a chunk of 32 takes 40 MB)."""
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    squares = torch.zeros(x.shape[1], dtype=torch.float64)
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk].to(torch.float64)
        total += part.sum(dim=(0, 2, 3))
        squares += (part * part).sum(dim=(0, 2, 3))
    n = max(1, len(x) * x.shape[2] * x.shape[3])
    mean = total / n
    var = (squares - n * mean * mean) / max(1, n - 1)  # unbiased, as torch.std
    return mean.tolist(), var.clamp_min(0).sqrt().clamp_min(1.0).tolist()


def _prepare_text(cfg: DataConfig, seed: int, tokenizer_file) -> PreparedData:
    table = read_table_samples(cfg.path, cfg.text_column, cfg.label_column, cfg.skip_bad, task=cfg.task)
    assignment = split_samples(cfg, table.samples, table.task, seed)
    train_keys = [s.key for s in table.samples if assignment[s.key] == "train"]
    task = make_task(table.task, cfg.path, table.samples, assignment, table.columns[1])
    tok = text_tokenizer([table.texts[k] for k in train_keys], cfg.vocab_size, tokenizer_file)
    max_tokens = cfg.max_tokens
    if max_tokens is None:
        max_tokens = infer_max_tokens(token_counts(tok, [table.texts[k] for k in train_keys]))
    prep = TextPreprocess(max_tokens, tok.get_vocab_size())
    digest, hashes = text_fingerprint(table.samples, table.texts, assignment)
    splits = {}
    for name in sorted({assignment[s.key] for s in table.samples}):
        chosen = [s for s in table.samples if assignment[s.key] == name]
        texts = [table.texts[s.key] for s in chosen]
        splits[name] = SplitData(
            torch.from_numpy(tokenize(tok, texts, max_tokens)),
            torch.from_numpy(task.targets([s.label for s in chosen])),
            [s.key for s in chosen],
            texts,
        )
    keys = [s.key for s in table.samples]
    checks = check_samples(
        keys,
        balance_labels(task, table.samples),
        [assignment[k] for k in keys],
        hashes,
        np.zeros((0, 1, 1, 1), np.uint8),
        "texts",
    )
    checks += integer_targets(task, cfg.task, [s for s in table.samples if assignment[s.key] == "train"])
    checks += ignored_columns_warning(table.columns, table.ignored)
    return PreparedData(
        "text",
        str(cfg.path),
        table.kind,
        task.labels,
        prep,
        splits,
        [],
        [],
        digest,
        {name: d.keys for name, d in splits.items()},
        table.skipped,
        checks,
        tok,
        table.columns,
        table.ignored,
        task=task,
    )


def prepare_training_data(
    cfg: DataConfig, seed: int, tokenizer_file: str | Path | None = None, layout: Layout | None = None
) -> PreparedData:
    """Scan, split, decode and describe the training data named by ``cfg.path``.

    Args:
        tokenizer_file: text only: use this tokenizer.json (a resumed run's, a pretrained
            encoder's) instead of training one on the train split.
        layout: the scan of ``cfg.path`` when the caller made it already (scan_images).
    Raises:
        DataError: missing path, bad layout, a single class, or (without skip_bad) a bad file or row.
    """
    if not cfg.path:
        raise DataError("data.path is not set. Pass a data folder (lamina train DATA) or set data.path in the config.")
    if is_text_data(cfg):
        if not Path(cfg.path).is_file():
            raise DataError(
                f"{cfg.path}: data.modality is text, which needs a table file (.csv, .tsv, .jsonl, .parquet)."
            )
        return _prepare_text(cfg, seed, tokenizer_file)
    layout = layout or scan(cfg.path, cfg.skip_bad, cfg.task)
    skipped = list(layout.skipped)
    kind = layout.task
    assignment = split_samples(cfg, layout.samples, kind, seed)
    train_samples = [s for s in layout.samples if assignment[s.key] == "train"]
    task = make_task(kind, cfg.path, layout.samples, assignment, "value")
    audio = layout.modality == "audio"
    prep = AudioPreprocess(**cfg.audio.model_dump()) if audio else infer_prep(cfg, train_samples)
    cropped: list[dict] = []
    arr, hashes, kept = decode_samples(layout.samples, prep, cfg.cache, cfg.skip_bad, skipped, cropped)
    by_split: dict[str, list[int]] = {}
    for i, s in enumerate(kept):
        by_split.setdefault(assignment[s.key], []).append(i)
    if "train" not in by_split:
        raise DataError(f"{cfg.path}: no training samples are left after skipping bad files.")
    splits = {
        name: _to_split(arr.take(idx, axis=0), [kept[i] for i in idx], task, [hashes[i] for i in idx])
        for name, idx in sorted(by_split.items())
    }
    digest = fingerprint((assignment[s.key], s.label, h) for s, h in zip(kept, hashes))
    mean, std = ([], []) if audio else _mean_std(splits["train"].x)
    record = {name: d.keys for name, d in splits.items()}
    checks = check_samples(
        [s.key for s in kept],
        balance_labels(task, kept),
        [assignment[s.key] for s in kept],
        hashes,
        np.zeros((0, 1, 1, 1), np.uint8) if audio else arr,
        "clips" if audio else "file contents",
    )
    checks += integer_targets(task, cfg.task, train_samples)
    if cropped:
        checks.append(
            {
                "level": "warning",
                "kind": "cropped",
                "message": f"{len(cropped)} clips are longer than "
                f"{prep.duration:g} s and were cropped to their loudest {prep.duration:g} s (data.audio.duration)",
                "paths": [f"{c['path']} ({c['seconds']:g} s)" for c in cropped[:20]],
                "count": len(cropped),
            }
        )
    data = PreparedData(
        layout.modality,
        str(cfg.path),
        layout.kind,
        task.labels,
        prep,
        splits,
        mean,
        std,
        digest,
        record,
        skipped,
        checks,
        task=task,
    )
    if audio:
        data.noise = _load_noise(layout.noise, prep, skipped)
    return data


def _load_noise(paths: list[Path], prep: AudioPreprocess, skipped: list) -> torch.Tensor | None:
    """Background noise files (whole, mono, resampled) as one int16 tensor, or None when there are none."""
    parts = []
    for p in paths:
        try:
            parts.append(load_noise(p.read_bytes(), prep))
        except (OSError, AudioDecodeError) as e:
            skipped.append({"path": str(p), "reason": f"cannot use as background noise ({e})"})
    return torch.from_numpy(np.concatenate(parts)) if parts else None


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


def ignored_columns_warning(used: tuple[str, str], ignored: list[str]) -> list[dict]:
    """A warning naming the columns of a table that the model does not read (none: no warning)."""
    if not ignored:
        return []
    message = (
        f"the model reads column '{used[0]}' (text) and '{used[1]}' (label) and ignores {len(ignored)} other "
        f"column(s): {names(ignored)}. Lamina reads one text column per table; tables of many columns are not "
        "supported yet (to read another column as the text, set data.text_column)"
    )
    return [problem("warning", "ignored-columns", message)]


def _select(
    samples: list[Sample], has_splits: bool, path, split: str | None, recorded: dict[str, list[str]] | None
) -> list[Sample]:
    """The samples of ``split``: from split folders/columns, or as recorded by the training run."""
    if split is None:
        return samples
    split = canonical_split(split)
    if has_splits and not (recorded and split in recorded and not any(s.split == split for s in samples)):
        chosen = [s for s in samples if s.split == split]
        if not chosen:
            found = sorted({s.split for s in samples})
            raise DataError(f"{path}: no '{split}' split in the data (found {found}).")
        return chosen
    # No such folder or column, or none at all: the split the run recorded (val carved out of a train folder).
    if not recorded or split not in recorded:
        raise DataError(
            f"{path}: the data has no split folders and the run records no '{split}' split. "
            "Evaluate without --split, or point at the run directory that trained on this data."
        )
    wanted = set(recorded[split])
    chosen = [s for s in samples if s.key in wanted]
    if not chosen:
        raise DataError(f"{path}: none of the {len(wanted)} files of the recorded '{split}' split are in this data.")
    return chosen


def prepare_eval_data(
    path: str | Path,
    prep: ImagePreprocess | TextPreprocess,
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
        tokenizer, columns: text models: the package's tokenizer and the (text, label) columns
            it was trained on (None = inferred).
        task: the model's task (default: single-label classification over ``labels``).
    Raises:
        DataError: unknown split, a label the model does not know, or a target that is not a number.
    """
    task = task or Task("classification", list(labels))
    if isinstance(prep, TextPreprocess):
        table = read_table_samples(path, columns[0], columns[1], skip_bad, min_labels=1, task=task.kind)
        samples = _select(table.samples, table.has_splits, path, split, recorded)
        check_known(samples, task, path)
        texts = [table.texts[s.key] for s in samples]
        ids = torch.from_numpy(tokenize(tokenizer, texts, prep.max_tokens))
        return SplitData(
            ids, torch.from_numpy(task.targets([s.label for s in samples])), [s.key for s in samples], texts
        ), list(table.skipped)
    layout = scan(path, skip_bad, task.kind)
    skipped = list(layout.skipped)
    samples = _select(layout.samples, layout.has_splits, path, split, recorded)
    check_known(samples, task, path)
    arr, _, kept = decode_samples(samples, prep, use_cache, skip_bad, skipped)
    return _to_split(arr, kept, task), skipped
