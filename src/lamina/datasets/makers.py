"""`lamina datasets make NAME --output DIR`: bundled or system datasets written in lamina's layouts."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from lamina.common.errors import LaminaError


def _prepare_output(output: Path, overwrite: bool) -> None:
    if output.exists() and any(output.iterdir()):
        if not overwrite:
            raise LaminaError(
                f"--output {output}: already exists and is not empty. Choose another path or pass --overwrite."
            )
        import shutil

        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)


def make_digits(output: Path, seed: int = 0, overwrite: bool = False) -> dict:
    """scikit-learn's 8x8 digits (1,797 images, 10 classes) as PNG split folders.

    Writes ``output/{train,test}/<digit>/<index>.png``: a stratified 80/20 split by ``seed``.
    Pixel values 0..16 are scaled to 0..255.
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    _prepare_output(output, overwrite)
    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # (N, 8, 8)
    rng = np.random.default_rng(seed)
    split = np.empty(len(images), dtype=object)
    for label in np.unique(bunch.target):
        idx = rng.permutation(np.flatnonzero(bunch.target == label))
        n_test = int(round(0.2 * len(idx)))
        split[idx[:n_test]] = "test"
        split[idx[n_test:]] = "train"
    counts: dict[str, int] = {"train": 0, "test": 0}
    for i, (img, label) in enumerate(zip(images, bunch.target)):
        folder = output / split[i] / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img, mode="L").save(folder / f"{i:04d}.png")
        counts[split[i]] += 1
    return {"dataset": "digits", "output": str(output), "counts": counts, "labels": [str(x) for x in range(10)]}


FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"  # the official mirror
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_MNIST_LABELS = [
    "T-shirt_top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle_boot",
]


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip-compressed when it ends in .gz) as a uint8 array of its declared shape.

    The format: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions,
    one big-endian uint32 per dimension, then the data.
    """
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise LaminaError(f"{path}: cannot read IDX file ({e})") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise LaminaError(f"{path}: not an unsigned-byte IDX file (header {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise LaminaError(
            f"{path}: header declares shape {shape} ({int(np.prod(shape))} bytes) but the file holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _fetch_fashion_mnist(url: str, into: Path) -> Path:
    """Download the four official files from ``url`` (only when the user names a URL)."""
    import urllib.request

    into.mkdir(parents=True, exist_ok=True)
    for images, labels in FASHION_MNIST_FILES.values():
        for name in (images, labels):
            if not (into / name).exists():
                try:
                    with urllib.request.urlopen(url.rstrip("/") + "/" + name, timeout=60) as r:
                        (into / (name + ".part")).write_bytes(r.read())
                except OSError as e:
                    raise LaminaError(f"--source {url}: cannot download {name} ({e})") from None
                (into / (name + ".part")).rename(into / name)
    return into


def make_fashion_mnist(output: Path, seed: int = 0, overwrite: bool = False, source: str | None = None) -> dict:
    """Fashion-MNIST (Zalando; 60,000 train + 10,000 test 28x28 grayscale images, 10 classes).

    Reads the official IDX files from ``source``: a folder (default the Debian package's
    folder), or an http(s) URL to download them from (only then is the network used; the
    files are kept in ``output/.download``). Writes ``output/{train,test}/<class>/<index>.png``
    with the official split; ``seed`` is unused (the split is fixed).
    """
    from PIL import Image

    src = source or FASHION_MNIST_DIR
    if src.startswith(("http://", "https://")):
        folder = _fetch_fashion_mnist(src, output.parent / f".{output.name}-download")
    else:
        folder = Path(src)
        missing = [n for pair in FASHION_MNIST_FILES.values() for n in pair if not (folder / n).exists()]
        if missing:
            hint = (
                (
                    "install the Debian package: apt-get install dataset-fashion-mnist, "
                    f"or pass --source {FASHION_MNIST_URL} to download the official files"
                )
                if source is None
                else "pass the folder that holds them"
            )
            raise LaminaError(f"fashion-mnist: {folder} lacks {', '.join(missing)}; {hint}")
    splits = {}
    for split, (images_name, labels_name) in FASHION_MNIST_FILES.items():
        images, labels = read_idx(folder / images_name), read_idx(folder / labels_name)
        if (
            images.ndim != 3
            or labels.ndim != 1
            or len(images) != len(labels)
            or labels.max() >= len(FASHION_MNIST_LABELS)
        ):
            raise LaminaError(
                f"fashion-mnist: {folder / images_name} {images.shape} and {folder / labels_name} {labels.shape} do not match"
            )
        splits[split] = (images, labels)
    _prepare_output(output, overwrite)
    counts = {}
    for split, (images, labels) in splits.items():
        for name in FASHION_MNIST_LABELS:
            (output / split / name).mkdir(parents=True)
        for i, (img, label) in enumerate(zip(images, labels)):
            Image.fromarray(img, mode="L").save(
                output / split / FASHION_MNIST_LABELS[label] / f"{i:05d}.png", compress_level=1
            )
        counts[split] = len(images)
    return {
        "dataset": "fashion-mnist",
        "output": str(output),
        "counts": counts,
        "labels": FASHION_MNIST_LABELS,
        "source": str(src),
    }


FORTUNES_DIR = "/usr/share/games/fortunes"  # Debian's fortunes (and fortunes-min)
# Ten topical categories; the offensive ones (fortunes-off, in off/) are never read.
FORTUNE_CATEGORIES = (
    "art",
    "computers",
    "education",
    "food",
    "law",
    "love",
    "medicine",
    "politics",
    "science",
    "sports",
)


def read_fortunes(path: Path) -> list[str]:
    """The quotes of one fortune file: entries separated by lines holding only '%'."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as e:
        raise LaminaError(f"{path}: cannot read ({e.strerror})") from None
    entries, current = [], []
    for line in text.splitlines():
        if line.strip() == "%":
            if current:
                entries.append("\n".join(current).strip())
            current = []
        else:
            current.append(line.rstrip())
    if current:
        entries.append("\n".join(current).strip())
    return [e for e in entries if e]


def make_fortunes(output: Path, seed: int = 0, overwrite: bool = False, source: str | None = None) -> dict:
    """Quotes by category from Debian's fortunes as a CSV ``text,label`` (one row per quote).

    ``output`` is the CSV file to write (its folder is created). Rows are shuffled by ``seed``;
    lamina splits them (stratified, seeded) when it trains.
    """
    import csv

    folder = Path(source or FORTUNES_DIR)
    missing = [c for c in FORTUNE_CATEGORIES if not (folder / c).is_file()]
    if missing:
        raise LaminaError(
            f"fortunes: {folder} lacks {', '.join(missing)}; install the Debian package: apt-get install fortunes"
        )
    output = Path(output)
    if output.exists() and not overwrite:
        raise LaminaError(f"--output {output}: already exists. Choose another path or pass --overwrite.")
    rows = [(quote, c) for c in FORTUNE_CATEGORIES for quote in read_fortunes(folder / c)]
    order = np.random.default_rng(seed).permutation(len(rows))
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows[i] for i in order)
    tmp.replace(output)
    counts = {c: sum(1 for _, label in rows if label == c) for c in FORTUNE_CATEGORIES}
    return {
        "dataset": "fortunes",
        "output": str(output),
        "counts": counts,
        "labels": list(FORTUNE_CATEGORIES),
        "source": str(folder),
    }


def _speech_commands_synth(output: Path, seed: int = 0, overwrite: bool = False) -> dict:
    from lamina.datasets.speech_synth import make_speech_commands_synth

    return make_speech_commands_synth(output, seed=seed, overwrite=overwrite)


def _emoji(output: Path, seed: int = 0, overwrite: bool = False) -> dict:
    from lamina.datasets.emoji import make_emoji

    return make_emoji(output, seed=seed, overwrite=overwrite)


DATASETS: dict[str, Callable[..., dict]] = {
    "digits": make_digits,
    "fashion-mnist": make_fashion_mnist,
    "fortunes": make_fortunes,
    "speech-commands-synth": _speech_commands_synth,
    "emoji": _emoji,
}


def make_dataset(
    name: str, output: str | Path, seed: int = 0, overwrite: bool = False, source: str | None = None
) -> dict:
    """Write dataset ``name`` to ``output``; returns a summary (counts per split).

    ``source`` is where a system dataset is read from (a folder or, when the user asks, a URL).
    """
    from lamina.common.errors import did_you_mean

    if name not in DATASETS:
        raise LaminaError(
            f"datasets make: unknown dataset '{name}'{did_you_mean(name, DATASETS)}; available: {', '.join(sorted(DATASETS))}"
        )
    kwargs = {"source": source} if source is not None else {}
    if source is not None and name in ("digits", "speech-commands-synth", "emoji"):
        raise LaminaError(f"datasets make {name}: --source does not apply (the data is made here, not read)")
    return DATASETS[name](Path(output), seed=seed, overwrite=overwrite, **kwargs)
