"""Finding labeled samples on disk: folder per class, split folders, or a CSV manifest.

Supported layouts (``root`` is ``data.path``)::

    root/<label>/<file>                 class folders; a seeded stratified split is made
    root/{train,val,test}/<label>/<file>  split folders (val and test optional)
    manifest.csv                        columns path,label[,split]; paths relative to the CSV (the label column may
                                        be called labels, target, value, score, ...: lamina.data.text.LABEL_NAMES)

Dot-files (``.DS_Store``) are ignored. Every other problem is a DataError naming the file
or row, unless ``skip_bad`` is set, in which case the problem is recorded in ``skipped``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from lamina.data.table_rows import csv_rows, text_lines
from lamina.common.errors import DataError
from lamina.data.audio import AUDIO_EXTENSIONS
from lamina.data.image import IMAGE_EXTENSIONS
from lamina.data.task import TASK_KINDS, detect
from lamina.data.split import SPLIT_ALIASES
from lamina.data.text import LABEL_NAMES

MODALITY_EXTENSIONS = {"image": IMAGE_EXTENSIONS, "audio": AUDIO_EXTENSIONS}
NOISE_FOLDER = "_background_noise_"  # Speech Commands: noise recordings for augmentation, not a class
SPLIT_LISTS = {"validation_list.txt": "val", "testing_list.txt": "test"}  # Speech Commands: files of val and test


@dataclass(frozen=True)
class Sample:
    """One labeled file. ``key`` is its path relative to the data root, used to record splits."""

    path: Path
    label: str
    split: str | None
    key: str


@dataclass
class Layout:
    """What was found under a data path."""

    root: Path
    kind: str  # "folders" | "split-folders" | "manifest"
    modality: str
    samples: list[Sample]
    skipped: list[dict] = field(default_factory=list)  # {"path"/"row", "reason"} for each thing left out
    noise: list[Path] = field(default_factory=list)  # audio: background noise files (_background_noise_/)
    task: str = (
        "classification"  # what the labels are (lamina.data.task): folders hold one label; a manifest's cells say
    )

    @property
    def has_splits(self) -> bool:
        return any(s.split is not None for s in self.samples)


def _skip_or_raise(skipped: list, skip_bad: bool, where: str, reason: str, fix: str) -> None:
    if not skip_bad:
        raise DataError(f"{where}: {reason}. {fix}")
    skipped.append({"path": where, "reason": reason})


def _modality_of(path: Path) -> str | None:
    ext = path.suffix.lower()
    for modality, exts in MODALITY_EXTENSIONS.items():
        if ext in exts:
            return modality
    return None


def _supported() -> str:
    return " ".join(sorted(e for exts in MODALITY_EXTENSIONS.values() for e in exts))


def _class_folder(folder: Path, split: str | None, root: Path, skip_bad: bool, skipped: list) -> list[Sample]:
    samples = []
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    for p in files:
        if _modality_of(p) is None:
            _skip_or_raise(
                skipped,
                skip_bad,
                str(p),
                f"unsupported file type '{p.suffix or '(none)'}' (expected one of {_supported()})",
                "Remove it or pass --skip-bad.",
            )
            continue
        samples.append(Sample(p, folder.name, split, p.relative_to(root).as_posix()))
    if not samples:
        _skip_or_raise(
            skipped, skip_bad, str(folder), "empty class folder (no supported files)", "Add files or remove the folder."
        )
    return samples


def _scan_folders(root: Path, skip_bad: bool) -> Layout:
    skipped: list[dict] = []
    children = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    dirs = [p for p in children if p.is_dir()]
    split_dirs = {p: SPLIT_ALIASES[p.name.lower()] for p in dirs if p.name.lower() in SPLIT_ALIASES}
    is_split = bool(split_dirs) and any(sub.is_dir() for d in split_dirs for sub in d.iterdir())
    samples: list[Sample] = []
    noise = (
        sorted(p for p in (root / NOISE_FOLDER).glob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
        if (root / NOISE_FOLDER).is_dir()
        else []
    )
    dirs = [p for p in dirs if p.name != NOISE_FOLDER]
    lists = {SPLIT_LISTS[p.name]: p for p in children if p.is_file() and p.name in SPLIT_LISTS}
    stray = [p for p in children if p.is_file() and p.name not in SPLIT_LISTS]
    if is_split:
        stray += [p for p in dirs if p not in split_dirs]
        if "train" not in split_dirs.values():
            raise DataError(
                f"{root}: split folders {sorted(p.name for p in split_dirs)} but no 'train' folder. Add {root}/train/<label>/."
            )
        for d, split in split_dirs.items():
            for sub in sorted(p for p in d.iterdir() if not p.name.startswith(".")):
                if sub.is_dir():
                    samples += _class_folder(sub, split, root, skip_bad, skipped)
                else:
                    stray.append(sub)
        kind = "split-folders"
    else:
        for d in dirs:
            samples += _class_folder(d, None, root, skip_bad, skipped)
        kind = "folders"
        if lists:  # Speech Commands: files named in the lists are val/test, the rest train
            listed = {}
            for split, p in lists.items():
                for line in p.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        listed[line.strip()] = split
            samples = [Sample(s.path, s.label, listed.get(s.key, "train"), s.key) for s in samples]
            kind = "speech-commands"
    for p in stray:
        _skip_or_raise(
            skipped,
            skip_bad,
            str(p),
            "not inside a class folder",
            "Move it into <root>/<label>/ (or <root>/<split>/<label>/), or pass --skip-bad.",
        )
    if not dirs:
        raise DataError(f"{root}: no class folders. Expected {root}/<label>/<file> or {root}/train/<label>/<file>.")
    return Layout(root, kind, _infer_modality(samples, root), samples, skipped, noise)


def _scan_manifest(csv_path: Path, skip_bad: bool, task: str = "auto") -> Layout:
    root = csv_path.parent
    skipped: list[dict] = []
    samples: list[Sample] = []
    with open(csv_path, "rb") as f:
        rows = [row for _, row in csv_rows(csv.reader(text_lines(csv_path, f)), csv_path)]
    if not rows:
        raise DataError(f"{csv_path}: empty manifest. Expected a header 'path,label[,split]' and one row per file.")
    header = [c.strip().lower() for c in rows[0]]
    label_name = next((n for n in LABEL_NAMES if n in header), None)
    if "path" in header and label_name is not None:
        ip, il = header.index("path"), header.index(label_name)
        isp = header.index("split") if "split" in header else None
        body = list(enumerate(rows[1:], start=2))
    else:
        ip, il, isp = 0, 1, (2 if len(rows[0]) > 2 else None)
        body = list(enumerate(rows, start=1))
    kind = detect([row[il] for _, row in body if len(row) > il], task)
    for lineno, row in body:
        where = f"{csv_path} row {lineno}"
        if not any(c.strip() for c in row):
            continue
        if len(row) <= max(ip, il):
            _skip_or_raise(
                skipped,
                skip_bad,
                where,
                f"expected at least path and label, got {row!r}",
                "Fix the row or pass --skip-bad.",
            )
            continue
        rel, label = row[ip].strip(), row[il].strip()
        split = row[isp].strip().lower() if isp is not None and isp < len(row) and row[isp].strip() else None
        if not label and not TASK_KINDS[kind].empty_label_ok:  # a multi-label sample may have none
            _skip_or_raise(
                skipped, skip_bad, where, f"empty label for '{rel}'", "Fill in the label or pass --skip-bad."
            )
            continue
        if split is not None and split not in SPLIT_ALIASES:
            _skip_or_raise(
                skipped,
                skip_bad,
                where,
                f"unknown split '{split}' (expected train, val or test)",
                "Fix the row or pass --skip-bad.",
            )
            continue
        p = (root / rel) if not Path(rel).is_absolute() else Path(rel)
        if not p.is_file():
            _skip_or_raise(skipped, skip_bad, where, f"file '{rel}' does not exist", "Fix the path or pass --skip-bad.")
            continue
        if _modality_of(p) is None:
            _skip_or_raise(
                skipped,
                skip_bad,
                where,
                f"unsupported file type '{p.suffix or '(none)'}' (expected one of {_supported()})",
                "Fix the row or pass --skip-bad.",
            )
            continue
        samples.append(Sample(p, label, SPLIT_ALIASES[split] if split else None, rel))
    splits = {s.split for s in samples}
    if None in splits and len(splits) > 1:
        raise DataError(f"{csv_path}: some rows have a split and some do not. Give every row a split, or none.")
    if splits and None not in splits and "train" not in splits:
        raise DataError(f"{csv_path}: rows have splits {sorted(splits)} but none is 'train'.")
    return Layout(root, "manifest", _infer_modality(samples, csv_path), samples, skipped, task=kind)


def _infer_modality(samples: list[Sample], where: Path) -> str:
    found = {_modality_of(s.path) for s in samples}
    if len(found) > 1:
        raise DataError(f"{where}: mixed modalities {sorted(found)}; one run trains on one modality.")
    if not found:
        raise DataError(f"{where}: no file lamina reads (expected one of {_supported()})")
    return found.pop()


def scan(path: str | Path, skip_bad: bool = False, task: str = "auto") -> Layout:
    """Find every labeled sample under ``path`` (folder or CSV manifest). ``task`` (data.task) decides whether a
    manifest row may have an empty label cell (multi-label only).

    Raises:
        DataError: the path is missing, the layout is not recognised, or (without skip_bad) a file/row is bad.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder. Pass a folder of class folders or a CSV manifest.")
    if p.is_file():
        if p.suffix.lower() != ".csv":
            raise DataError(
                f"{p}: a single file is not a dataset. Pass a folder of class folders or a CSV manifest (.csv)."
            )
        layout = _scan_manifest(p, skip_bad, task)
    else:
        layout = _scan_folders(p, skip_bad)
        layout.task = "classification" if task == "auto" else task
    if not layout.samples:
        raise DataError(f"{p}: no usable samples found.")
    return layout
