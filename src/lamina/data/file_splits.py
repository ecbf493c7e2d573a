"""Folders and manifests of files -> prepared splits, for every modality whose samples are files (images, audio).

The modality object says what a file becomes (its preprocessing, stored form, statistics and notes); this module
scans, splits, decodes through the cache and runs the checks.
"""

from __future__ import annotations

import torch

from lamina.common.config import DataConfig
from lamina.common.errors import DataError
from lamina.data.checks import check_samples
from lamina.data.decode import decode_samples
from lamina.data.checks import fingerprint
from lamina.data.layout import Layout, Sample, scan
from lamina.data.prepared import PreparedData, SplitData
from lamina.data.split import select_split
from lamina.data.targets import balance_labels, check_known, integer_targets, make_task, split_samples
from lamina.data.task import Task


def prepare_files(kind, cfg: DataConfig, seed: int, layout: Layout | None) -> PreparedData:
    """The training data of a folder or manifest of files, as modality class ``kind`` reads it.

    Raises:
        DataError: a bad layout, a single class, or (without skip_bad) a bad file.
    """
    layout = layout or scan(cfg.path, cfg.skip_bad, cfg.task)
    skipped = list(layout.skipped)
    assignment = split_samples(cfg, layout.samples, layout.task, seed)
    train_samples = [s for s in layout.samples if assignment[s.key] == "train"]
    task = make_task(layout.task, cfg.path, layout.samples, assignment, "value")
    prep = kind.infer(cfg, train_samples)
    notes: list[dict] = []
    arr, hashes, kept = decode_samples(layout.samples, prep, cfg.cache, cfg.skip_bad, skipped, notes)
    by_split: dict[str, list[int]] = {}
    for i, s in enumerate(kept):
        by_split.setdefault(assignment[s.key], []).append(i)
    if "train" not in by_split:
        raise DataError(f"{cfg.path}: no training samples are left after skipping bad files.")
    splits = {
        name: file_split(prep, arr.take(idx, axis=0), [kept[i] for i in idx], task, [hashes[i] for i in idx])
        for name, idx in sorted(by_split.items())
    }
    mean, std = prep.statistics(splits["train"].x)
    checks = check_samples(
        [s.key for s in kept],
        balance_labels(task, kept),
        [assignment[s.key] for s in kept],
        hashes,
        prep.near_duplicate_view(arr),
        prep.content_noun,
    )
    checks += integer_targets(task, cfg.task, train_samples) + prep.decode_warnings(notes)
    noise = prep.background_noise(layout.noise, skipped)
    return PreparedData(
        prep.name,
        str(cfg.path),
        layout.kind,
        task.labels,
        prep,
        splits,
        mean,
        std,
        fingerprint((assignment[s.key], s.label, h) for s, h in zip(kept, hashes)),
        {name: d.keys for name, d in splits.items()},
        skipped,
        checks,
        noise=torch.from_numpy(noise) if noise is not None else None,
        task=task,
    )


def file_split(prep, arr, samples: list[Sample], task: Task, hashes: list[str] | None = None) -> SplitData:
    """Decoded rows (an array or a view of the cache) and their samples -> one split in the modality's stored form."""
    y = torch.from_numpy(task.targets([s.label for s in samples]))
    return SplitData(prep.stored(arr), y, [s.key for s in samples], prep.name, hashes=hashes)


def eval_files(prep, path, task: Task, split: str | None, recorded, skip_bad: bool, use_cache: bool):
    """(SplitData, skipped) of a folder or manifest for evaluation, decoded as the model was trained."""
    layout = scan(path, skip_bad, task.kind)
    skipped = list(layout.skipped)
    samples = select_split(layout.samples, layout.has_splits, path, split, recorded)
    check_known(samples, task, path)
    arr, _, kept = decode_samples(samples, prep, use_cache, skip_bad, skipped)
    return file_split(prep, arr, kept, task), skipped
