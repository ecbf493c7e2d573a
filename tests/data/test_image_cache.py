import numpy as np
import pytest

from helpers import write_png
from lamina.data.cache import image_cache
from lamina.data.decode import decode_samples
from lamina.data.image import ImagePreprocess, load_image
from lamina.data.image_file import ImageDecodeError
from lamina.data.layout import scan


def test_load_image_resizes_and_converts(tmp_path):
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[..., 0] = 200
    p = write_png(tmp_path / "x.png", rgb)
    out = load_image(p, ImagePreprocess(size=8, channels=1))
    assert out.shape == (8, 8, 1) and out.dtype == np.uint8
    assert abs(int(out[0, 0, 0]) - round(0.299 * 200)) <= 1  # ITU-R 601 luma of pure red
    assert load_image(p, ImagePreprocess(size=8, channels=3)).shape == (8, 8, 3)


def test_truncated_image_is_a_decode_error(tmp_path):
    p = write_png(tmp_path / "x.png", np.full((32, 32), 7, np.uint8))
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(ImageDecodeError):
        load_image(p, ImagePreprocess(8, 1))


def test_cache_decodes_each_content_once(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMINA_CACHE_DIR", str(tmp_path / "cache"))
    for i in range(4):
        write_png(tmp_path / "d" / "a" / f"{i}.png", np.full((8, 8), 10 * i, np.uint8))
        write_png(tmp_path / "d" / "b" / f"{i}.png", np.full((8, 8), 100 + i, np.uint8))
    prep = ImagePreprocess(8, 1)
    samples = scan(tmp_path / "d").samples
    arr1, hashes, kept = decode_samples(samples, prep, True, False, [])
    cache = image_cache(tmp_path / "cache", prep)
    data_file = cache.dir / "data.u8"
    assert data_file.stat().st_size == 8 * 8 * 8
    arr2, _, _ = decode_samples(samples, prep, True, False, [])
    assert data_file.stat().st_size == 8 * 8 * 8  # nothing decoded or appended the second time
    np.testing.assert_array_equal(arr1, arr2)
    np.testing.assert_array_equal(arr1[:, 0, 0, 0], [0, 10, 20, 30, 100, 101, 102, 103])
    write_png(tmp_path / "d" / "a" / "0.png", np.full((8, 8), 77, np.uint8))  # changed content: a new row
    arr3, _, _ = decode_samples(samples, prep, True, False, [])
    assert data_file.stat().st_size == 9 * 8 * 8
    assert arr3[0, 0, 0, 0] == 77
    # Uncached decoding gives the same pixels.
    arr4, _, _ = decode_samples(samples, prep, False, False, [])
    np.testing.assert_array_equal(arr3, arr4)


def test_cache_ignores_torn_tail(tmp_path):
    prep = ImagePreprocess(4, 1)
    cache = image_cache(tmp_path, prep)
    rows = cache.add({"h1": np.full((4, 4, 1), 1, np.uint8)})
    with open(cache.dir / "data.u8", "ab") as f:
        f.write(b"\x09" * 5)  # a crashed writer's partial row
    rows.update(cache.add({"h2": np.full((4, 4, 1), 2, np.uint8)}))
    assert rows == {"h1": 0, "h2": 1}
    np.testing.assert_array_equal(cache.read(np.array([1, 0]))[:, 0, 0, 0], [2, 1])


@pytest.mark.parametrize("use_cache", [True, False])
def test_decoding_keeps_sample_order_across_thread_pool_chunks(tmp_path, monkeypatch, use_cache):
    """Files are read and decoded in runs of MAP_CHUNK per task: the rows must still follow the samples, and a bad
    file in the middle of a run is skipped by name without shifting its neighbours."""
    from lamina.data import decode as dataset
    from lamina.data.layout import Sample

    monkeypatch.setenv("LAMINA_CACHE_DIR", str(tmp_path / "cache"))
    n = 2 * dataset.MAP_CHUNK + 7
    samples = []
    for i in range(n):
        p = write_png(tmp_path / f"{i:03d}.png", np.full((8, 8), i, np.uint8))
        samples.append(Sample(p, "a", None, p.name))
    bad = dataset.MAP_CHUNK + 3
    samples[bad].path.write_bytes(b"not a png")
    skipped: list = []
    arr, hashes, kept = decode_samples(
        samples, ImagePreprocess(8, 1), use_cache=use_cache, skip_bad=True, skipped=skipped
    )
    assert [s["path"] for s in skipped] == [str(samples[bad].path)]
    assert [s.key for s in kept] == [s.key for i, s in enumerate(samples) if i != bad]
    assert arr[:, 0, 0, 0].tolist() == [i for i in range(n) if i != bad]
    assert len(set(hashes)) == n - 1


def test_splits_of_cached_images_are_taken_and_joined_without_reading(tmp_path):
    """A review's folds: samples picked from several splits' lazy views of one cache file, in the order asked."""
    import torch

    from lamina.data.pixel_rows import pixel_tensor
    from lamina.data.prepared import SplitData

    prep = ImagePreprocess(4, 1)
    cache = image_cache(tmp_path, prep)
    rows = cache.add({f"h{i}": np.full((4, 4, 1), 10 * i, np.uint8) for i in range(5)})
    train = SplitData(
        pixel_tensor(cache.view(np.array([rows["h0"], rows["h1"], rows["h2"]]))),
        torch.arange(3),
        ["a", "b", "c"],
        "image",
    )
    val = SplitData(
        pixel_tensor(cache.view(np.array([rows["h3"], rows["h4"]]))), torch.arange(3, 5), ["d", "e"], "image"
    )
    pooled = SplitData.join([train, val])
    fold = pooled.take([4, 0, 2])
    assert fold.keys == ["e", "a", "c"] and fold.y.tolist() == [4, 0, 2]
    assert fold.x[torch.arange(3)][:, 0, 0, 0].tolist() == [40, 0, 20]
