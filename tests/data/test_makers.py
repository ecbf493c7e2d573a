"""Dataset makers: Fashion-MNIST from IDX files (small synthetic IDX files, same format)."""

import gzip

import numpy as np
import pytest
from PIL import Image

from helpers import run_cli
from lamina.common.errors import LaminaError
from lamina.datasets.makers import FASHION_MNIST_FILES, FASHION_MNIST_LABELS, make_dataset, read_idx


def write_idx(path, array: np.ndarray, compress: bool = True) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


@pytest.fixture
def idx_source(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "src"
    src.mkdir()
    arrays = {}
    for split, n in (("train", 30), ("test", 10)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        write_idx(src / FASHION_MNIST_FILES[split][0], images)
        write_idx(src / FASHION_MNIST_FILES[split][1], labels)
        arrays[split] = (images, labels)
    return src, arrays


def test_read_idx_plain_and_gzip(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", a)
    write_idx(tmp_path / "a", a, compress=False)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), a) and np.array_equal(read_idx(tmp_path / "a"), a)


def test_read_idx_truncated_names_the_file(tmp_path):
    write_idx(tmp_path / "t", np.zeros((5, 4), np.uint8), compress=False)
    (tmp_path / "t").write_bytes((tmp_path / "t").read_bytes()[:-3])
    with pytest.raises(LaminaError, match=r"t: header declares shape \(5, 4\)"):
        read_idx(tmp_path / "t")


def test_fashion_mnist_writes_the_official_split_pixel_exact(tmp_path, idx_source):
    src, arrays = idx_source
    summary = make_dataset("fashion-mnist", tmp_path / "out", source=str(src))
    assert summary["counts"] == {"train": 30, "test": 10}
    for split, (images, labels) in arrays.items():
        for i in (0, len(images) - 1):
            png = tmp_path / "out" / split / FASHION_MNIST_LABELS[labels[i]] / f"{i:05d}.png"
            assert np.array_equal(np.asarray(Image.open(png)), images[i])
    assert sorted(p.name for p in (tmp_path / "out" / "train").iterdir()) == sorted(FASHION_MNIST_LABELS)


def test_fashion_mnist_missing_files_says_which_package(tmp_path):
    r = run_cli("datasets", "make", "fashion-mnist", "--output", tmp_path / "out", "--source", tmp_path / "nowhere")
    assert r.returncode == 2 and "train-images-idx3-ubyte.gz" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()  # nothing written before the inputs are known good


def test_fashion_mnist_default_source_hint_names_debian_package(tmp_path, monkeypatch):
    import lamina.datasets.makers as makers

    monkeypatch.setattr(makers, "FASHION_MNIST_DIR", str(tmp_path / "absent"))
    with pytest.raises(LaminaError, match="apt-get install dataset-fashion-mnist"):
        make_dataset("fashion-mnist", tmp_path / "out")
