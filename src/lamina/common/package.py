"""The model package contract, torch-free: where a package is, and its lamina.json: one typed schema
(``PackageMeta``), checked on every write (``write_meta``: training, export, int8) and every read (``read_meta``).

Shared by training (which writes packages), export, and serving (which must not import torch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lamina.common.errors import LaminaError
from lamina.common.files import read_json, sha256_file, write_json

FORMAT = "lamina.model/1"


class _Section(BaseModel):
    # a section's own fields are its writer's; the keys below are what readers use
    model_config = ConfigDict(extra="allow")


class TaskSection(_Section):
    kind: Literal["classification", "multilabel", "regression"] = "classification"
    thresholds: Optional[list[float]] = None  # multilabel
    target: Optional[str] = None  # regression: the column, the train split's mean and std
    mean: Optional[float] = None
    std: Optional[float] = None


class Signature(_Section):
    name: str
    dtype: str
    shape: list[int]


class ExportSection(_Section):
    format: Literal["onnx"]
    file: str
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    opset: int
    input: Signature
    output: Signature
    parity: dict
    int8: Optional[dict] = None  # lamina export --quantize int8: file, sha256, val (the gate), speed


class PackageMeta(BaseModel):
    """lamina.json, the one description of a model package (FORMAT)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["lamina.model/1"]
    name: str
    modality: Literal["image", "audio", "text", "table"]
    labels: list[str]
    task: TaskSection = TaskSection()
    preprocessing: dict  # the modality object's to_dict() (lamina.data.modality): size, sample rate, max tokens, ...
    model: dict  # the resolved model config (ModelConfig)
    input: Signature  # the network's input (the exported graph's is export.input)
    output: Signature
    metrics: dict = {}  # per split: the task's summary figures and loss
    data_fingerprint: str = ""
    versions: dict = {}  # lamina, torch, python
    training: Optional[dict] = None  # best epoch, epochs run, precision, device, seed
    export: Optional[ExportSection] = None
    files: dict[str, str] = {}  # file name -> sha256: every file the package holds besides lamina.json


def check_meta(meta, where: Path) -> None:
    """Raise LaminaError naming the first key of ``meta`` that does not fit PackageMeta."""
    try:
        PackageMeta.model_validate(meta)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise LaminaError(
            f"{where}: {key}: {err['msg']}; the file is damaged or was written by another lamina version."
        ) from None


def write_meta(package: Path, meta: dict) -> None:
    """Write ``meta`` as the package's lamina.json, after checking it against the schema."""
    check_meta(meta, Path(package) / "lamina.json")
    write_json(Path(package) / "lamina.json", meta)


def find_package(path: str | Path) -> Path:
    """The model package directory for a run directory or a package directory.

    Raises:
        LaminaError: neither ``path/lamina.json`` nor ``path/model/lamina.json`` exists.
    """
    p = Path(path)
    for candidate in (p, p / "model"):
        if (candidate / "lamina.json").is_file():
            return candidate
    if not p.exists():
        raise LaminaError(f"{p}: no such run directory or model package.")
    raise LaminaError(f"{p}: not a run directory or model package (no lamina.json in it or in {p / 'model'}).")


def package_file(package: Path, name) -> Path:
    """The file ``name`` (as lamina.json records it) inside ``package``.

    Raises:
        LaminaError: the name is not a relative path that stays inside the package, symlinks
            included (a package fetched from a registry is only semi-trusted).
    """
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts or "\\" in name:
        raise LaminaError(
            f"{package / 'lamina.json'}: file name {str(name)[:80]!r} leaves the package; "
            "names must be relative paths inside it."
        )
    path = Path(package) / name
    root = Path(package).resolve()
    if path.exists() and root not in path.resolve().parents:
        raise LaminaError(f"{path}: links outside the package ({path.resolve()}); a package must hold its own files.")
    return path


def file_hashes(package: Path, names) -> dict:
    """{name: sha256} of the package's files ``names`` that exist, for lamina.json's "files"."""
    return {n: sha256_file(Path(package) / n) for n in names if (Path(package) / n).is_file()}


def verify_files(package: Path, meta: dict) -> None:
    """Check every file lamina.json lists against its sha256.

    Raises:
        LaminaError: a file is missing, outside the package, or not the one that was written.
    """
    files = meta.get("files", {})
    if not isinstance(files, dict):
        raise LaminaError(f"{package / 'lamina.json'}: 'files' must map file names to sha256 digests.")
    for name, digest in files.items():
        path = package_file(package, name)
        if not path.is_file():
            fix = "run `lamina export` on the package" if name == "model.onnx" else "copy the whole package again"
            raise LaminaError(f"{path}: missing from the package (lamina.json lists it); {fix}.")
        try:
            actual = sha256_file(path)
        except OSError as e:  # e.g. a file only its owner may read, served by another user
            raise LaminaError(f"{path}: cannot read it ({e.strerror}); give the serving user read access.") from None
        if actual != digest:
            raise LaminaError(
                f"{path}: sha256 does not match lamina.json (truncated or altered); copy the package again "
                "or re-run the training."
            )


def read_meta(package: Path) -> dict:
    """lamina.json of a package, checked for a format this version reads, and every listed file against its sha256."""
    path = Path(package) / "lamina.json"
    try:
        meta = read_json(path)
    except (OSError, ValueError) as e:
        raise LaminaError(f"{path}: unreadable ({e}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise LaminaError(f"{path}: format {got!r} is not {FORMAT!r}; it was written by another lamina version.")
    check_meta(meta, path)
    verify_files(Path(package), meta)
    return meta
