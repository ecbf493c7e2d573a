"""Tables of many columns -> prepared splits: the ``table`` modality's data path and its pre-flight checks.

Each column's kind is read from its cells (lamina.data.column_kinds) or set in ``data.columns``: numbers,
categories (booleans among them), free text, image and audio files (paths relative to the table) are read;
identifiers (a value per row), constant and empty columns and a column that determines the label (leakage) are left
out, each with a warning that names it. A row whose label is missing is an error naming the row (or skipped with
--skip-bad).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch

from lamina.common.config import DataConfig
from lamina.common.errors import DataError, did_you_mean
from lamina.common.listing import names, problem
from lamina.data.checks import check_samples, fingerprint
from lamina.data.column_kinds import table_facts
from lamina.data.layout import Sample
from lamina.data.prepared import PreparedData, SplitData
from lamina.data.split import SPLIT_ALIASES, canonical_split, select_split
from lamina.data.hashed_text import TERM_BUCKETS, term_slots
from lamina.data.table_data import FEATURE_KINDS, TablePreprocess, category_text, missing_value
from lamina.data.table_files import DECODERS, CellRefused, audio_column, file_cell, image_column
from lamina.data.targets import balance_labels, check_known, integer_targets, make_task, split_samples
from lamina.data.task import TASK_KINDS, Task, cell_text, detect, number
from lamina.data.text import LABEL_NAMES, SPLIT_NAMES, named_label, read_records

MAX_CATEGORY_VALUES = 1000  # a category column keeps its most frequent values; the rest share the unseen index
NUMBER_BINS = 16  # a number column's quantile bins (lamina.models.tabular: piecewise-linear encoding)
LEAKAGE_MIN_ROWS = 20  # fewer training rows cannot tell a column that determines the label from chance


def prepare_table(cfg: DataConfig, seed: int) -> PreparedData:
    """The training data of a table of many columns.

    Raises:
        DataError: an unreadable table, no label column, no column to read, a bad row (without skip_bad).
    """
    path = Path(cfg.path)
    columns, records = read_records(path)
    if not records:
        raise DataError(f"{path}: no rows")
    label = _label_column(path, columns, records, cfg.label_column)
    split_col = next((c for c in columns if c.lower() in SPLIT_NAMES and c != label), None)
    kinds, warnings = _feature_kinds(path, columns, records, label, split_col, cfg.columns or {})
    files = {"side": cfg.image_size, "fit": cfg.image_fit, "seconds": cfg.audio.duration}
    kind = detect([rec.get(label) for _, rec in records], cfg.task)
    samples, kept, skipped = _samples(path, records, label, split_col, kind, cfg.skip_bad)
    assignment = split_samples(cfg, samples, kind, seed)
    task = make_task(kind, cfg.path, samples, assignment, label)
    train = [rec for s, rec in zip(samples, kept) if assignment[s.key] == "train"]
    leaks = _leakage(kinds, train, [s.label for s in samples if assignment[s.key] == "train"], cfg.columns or {})
    for name in leaks:
        del kinds[name]
    if not kinds:
        raise DataError(f"{path}: no column left to read besides the label '{label}'; {names(columns)}")
    prep = TablePreprocess(
        tuple(_column_stats(name, k, [r.get(name) for r in train], files) for name, k in kinds.items()), label
    )
    x, unread = _rows(prep, path, samples, kept, cfg.skip_bad)
    texts = [prep.describe(rec) for rec in kept]
    hashes = [hashlib.blake2b(t.encode(), digest_size=16).hexdigest() for t in texts]
    splits = {}
    for name in sorted(set(assignment.values())):
        idx = [i for i, s in enumerate(samples) if assignment[s.key] == name]
        splits[name] = _split(prep, x[idx], [samples[i] for i in idx], [texts[i] for i in idx], task)
    keys = [s.key for s in samples]
    checks = warnings + [_leakage_warning(path, leaks, label)] if leaks else list(warnings)
    checks += check_samples(
        keys,
        balance_labels(task, samples),
        [assignment[k] for k in keys],
        hashes,
        prep.near_duplicate_view(None),
        "rows",
    )
    checks += integer_targets(task, cfg.task, [s for s in samples if assignment[s.key] == "train"])
    checks += _missing_warning(prep, x) + _unread_warning(unread)
    return PreparedData(
        prep.name,
        str(cfg.path),
        "table",
        task.labels,
        prep,
        splits,
        [],
        [],
        fingerprint((assignment[s.key], s.label, h) for s, h in zip(samples, hashes)),
        {name: d.keys for name, d in splits.items()},
        skipped,
        checks,
        task=task,
        use={
            "read": dict(kinds),
            "label": label,
            "ignored": [c for c in columns if c not in (*kinds, label, split_col)],
        },
    )


def eval_table(prep: TablePreprocess, path, task: Task, split: str | None, recorded, skip_bad: bool):
    """(SplitData, skipped) of a table for evaluation, its rows read with the model's columns."""
    path = Path(path)
    columns, records = read_records(path)
    label = prep.label if prep.label in columns else _label_column(path, columns, records, None)
    split_col = next((c for c in columns if c.lower() in SPLIT_NAMES and c != label), None)
    samples, kept, skipped = _samples(path, records, label, split_col, task.kind, skip_bad, min_labels=1)
    chosen = select_split(samples, any(s.split for s in samples), path, split, recorded)
    check_known(chosen, task, path)
    by_key = {s.key: rec for s, rec in zip(samples, kept)}
    rows = [by_key[s.key] for s in chosen]
    x, unread = _rows(prep, path, chosen, rows, skip_bad)
    skipped += [{"path": f"{path}: {u}", "reason": "unreadable file, read as missing"} for u in unread]
    return _split(prep, x, chosen, [prep.describe(r) for r in rows], task), skipped


def _rows(prep, path: Path, samples: list[Sample], records: list[dict], skip_bad: bool) -> tuple[np.ndarray, list]:
    """float32 (N, row width) of the records, and the cells read as missing because their file could not be read
    (with skip_bad; else DataError naming the row, the column and the file)."""
    x = np.empty((len(records), prep.width), np.float32)  # filled in place: a picture takes 600 kB of a row
    unread = []
    for i, (s, rec) in enumerate(zip(samples, records)):
        where = f"{path}: {s.key}"
        try:
            x[i] = prep.row(rec, where, strict=False, root=path.parent)
        except CellRefused as e:
            if not skip_bad:
                raise DataError(f"{e}. Fix the file or pass --skip-bad (the file is then missing).") from None
            unread.append(str(e).removeprefix(f"{path}: "))
            x[i] = prep.row(_without_unreadable(prep, rec, path.parent), where, strict=False, root=path.parent)
    return x, unread


def _without_unreadable(prep, rec: dict, root: Path) -> dict:
    """``rec`` with each file that cannot be read emptied."""
    out = dict(rec)
    for c in prep.columns:
        if c["kind"] in DECODERS:
            try:
                file_cell(c, rec.get(c["name"]), "", root)
            except CellRefused:
                out[c["name"]] = ""
    return out


def _unread_warning(unread: list[str]) -> list[dict]:
    if not unread:
        return []
    return [problem("warning", "unreadable-files", f"{len(unread)} file(s) could not be read; read as missing", unread)]


def _split(prep, x: np.ndarray, samples: list[Sample], texts: list[str], task: Task) -> SplitData:
    y = torch.from_numpy(task.targets([s.label for s in samples]))
    return SplitData(
        torch.from_numpy(np.ascontiguousarray(x, np.float32)), y, [s.key for s in samples], prep.name, texts
    )


def _label_column(path: Path, columns: list[str], records, given: str | None) -> str:
    """data.label_column, or the column named like a label (label, class, target, ...)."""
    if given is not None:
        if given not in columns:
            raise DataError(
                f"{path}: no label column '{given}'{did_you_mean(given, columns)}; columns: {names(columns)}"
            )
        return given
    found = named_label(columns)
    if found is None:
        raise DataError(
            f"{path}: which column is the label? None is named {', '.join(LABEL_NAMES[:5])}, ...; "
            f"set data.label_column (columns: {names(columns)})"
        )
    return found


def _feature_kinds(path, columns, records, label, split_col, given: dict) -> tuple[dict[str, str], list[dict]]:
    """(column -> number | category of the columns the model reads, warnings naming those it leaves out)."""
    unknown = sorted(set(given) - set(columns))
    if unknown:
        raise DataError(f"{path}: data.columns names {unknown[:5]}, not in the table (columns: {names(columns)})")
    facts = table_facts(columns, records)
    kinds: dict[str, str] = {}
    left: dict[str, str] = {}
    for name in columns:
        if name in (label, split_col):
            continue
        f = facts[name]
        wanted = given.get(name)
        if wanted == "ignore":
            left[name] = "ignored by data.columns"
        elif wanted in FEATURE_KINDS:
            kinds[name] = wanted
        elif wanted is not None:
            raise DataError(f"{path}: data.columns: '{name}': {wanted} columns are not read by table models yet")
        elif f.kind == "empty" or f.distinct <= 1:
            left[name] = "constant" if f.kind != "empty" else "empty"
        elif f.kind == "identifier":
            left[name] = "an identifier (a different value in every row)"
        else:
            kinds[name] = f.kind  # number, category or text
    warnings = (
        [
            problem(
                "warning",
                "ignored-columns",
                f"{len(left)} column(s) not read",
                [f"{c}: {why}" for c, why in left.items()],
            )
        ]
        if left
        else []
    )
    return kinds, warnings


def _samples(path, records, label, split_col, kind, skip_bad, min_labels: int = 2):
    """(samples keyed "row N", their records, skipped rows): a row without a label is bad."""
    rules = TASK_KINDS[kind]
    samples, kept, skipped = [], [], []
    for n, rec in records:
        cell = cell_text(rec.get(label))
        if cell == "" and not rules.empty_label_ok:
            if not skip_bad:
                raise DataError(f"{path}: row {n}: missing label in column '{label}'. Fix the row or pass --skip-bad.")
            skipped.append({"path": f"{path}:{n}", "reason": f"missing label in column '{label}'"})
            continue
        split = category_text(rec.get(split_col)) if split_col else ""
        if split_col and split not in SPLIT_ALIASES:
            raise DataError(f"{path}: row {n}: split '{split}' in column '{split_col}'; expected train, val or test")
        samples.append(Sample(path, cell, canonical_split(split) if split else None, f"row {n}"))
        kept.append(rec)
    return samples, kept, skipped


def _column_stats(name: str, kind: str, values: list, files: dict) -> dict:
    """What the model keeps of a train column: a number column's median and scale, a category column's values, an
    file column's preprocessing (``files``: data.image_size, data.image_fit and data.audio.duration)."""
    if kind == "image":
        return image_column(name, files["side"], files["fit"])
    if kind == "audio":
        return audio_column(name, files["seconds"])
    if kind == "text":
        slots = term_slots([category_text(x) for x in values])
        return {"name": name, "kind": kind, "width": slots, "buckets": TERM_BUCKETS}
    if kind == "number":
        nums = np.array([v for v in (number(category_text(x)) for x in values) if v is not None], np.float64)
        if not len(nums):
            return {"name": name, "kind": kind, "median": 0.0, "scale": 1.0}
        q1, median, q3 = np.percentile(nums, [25, 50, 75])
        scale = (q3 - q1) / 1.349 or float(nums.std()) or 1.0  # the IQR as a normal's standard deviation
        edges = np.unique(np.quantile(nums, np.linspace(0, 1, NUMBER_BINS + 1)))
        return {
            "name": name,
            "kind": kind,
            "median": float(median),
            "scale": float(scale),
            "edges": [float(e) for e in edges] if len(edges) > 1 else [],
        }
    counts = Counter(t for t in (category_text(x) for x in values) if t)
    kept = {"name": name, "kind": kind, "values": [v for v, _ in counts.most_common(MAX_CATEGORY_VALUES)]}
    return {**kept, "open": True} if len(counts) > MAX_CATEGORY_VALUES else kept  # open: the rest share index 0


def _leakage(kinds: dict, train: list[dict], labels: list[str], given: dict) -> list[str]:
    """Feature columns whose value decides the label on every training row (a copy or a code of it), unless
    data.columns asked for them by name."""
    if len(train) < LEAKAGE_MIN_ROWS:
        return []
    leaks = []
    for name, kind in kinds.items():
        if name in given or kind in ("text", *DECODERS):  # a text or a file decides by its content, not as a code
            continue
        seen: dict[str, set] = defaultdict(set)
        for rec, label in zip(train, labels):
            seen[category_text(rec.get(name))].add(label)
        if all(len(v) == 1 for v in seen.values()) and len(seen) < len(train) / 2:
            leaks.append(name)
    return leaks


def _leakage_warning(path, leaks: list[str], label: str) -> dict:
    return problem(
        "warning",
        "leakage",
        f"{len(leaks)} column(s) decide '{label}' on every training row and are left out (a copy or a code of the "
        "label is not there when the model is used; name them in data.columns to read them anyway)",
        leaks,
    )


def _missing_warning(prep: TablePreprocess, x: np.ndarray) -> list[dict]:
    """How many cells of each column are missing (numbers: empty or not a number; categories: empty, or in val and
    test a value train never had)."""
    missing = []
    for c, at, width in prep.spans:
        part = x[:, at : at + width]
        gone = int(np.isnan(part[:, 0]).sum()) if np.isnan(missing_value(c)) else int((part == 0).all(1).sum())
        if gone:
            missing.append(f"{c['name']}: {gone:,} of {len(x):,} rows ({gone / len(x):.0%})")
    if not missing:
        return []
    return [problem("warning", "missing-values", f"{len(missing)} column(s) have missing values", missing)]
