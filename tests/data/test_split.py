from collections import Counter

from lamina.data.layout import scan
from lamina.data.split import assign_splits

from helpers import make_image_folders


def test_stratified_seeded_split(tmp_path):
    layout = scan(make_image_folders(tmp_path, classes=("a", "b", "c"), per_class=20))
    a = assign_splits(layout.samples, 0.1, 0.2, seed=3)
    assert a == assign_splits(layout.samples, 0.1, 0.2, seed=3)
    assert a != assign_splits(layout.samples, 0.1, 0.2, seed=4)
    per = Counter((s.label, a[s.key]) for s in layout.samples)
    for label in "abc":
        assert (per[(label, "train")], per[(label, "val")], per[(label, "test")]) == (14, 2, 4)


def test_val_carved_from_train_when_splits_given(tmp_path):
    make_image_folders(tmp_path / "train", per_class=10)
    make_image_folders(tmp_path / "test", per_class=3)
    layout = scan(tmp_path)
    a = assign_splits(layout.samples, 0.2, 0.5, seed=0)
    counts = Counter(a.values())
    assert counts == {"train": 16, "val": 4, "test": 6}  # test kept as given; test_fraction unused


def test_tiny_class_keeps_one_training_sample(tmp_path):
    layout = scan(make_image_folders(tmp_path, per_class=2))
    a = assign_splits(layout.samples, 0.5, 0.5, seed=0)
    per = Counter((s.label, a[s.key]) for s in layout.samples)
    assert per[("a", "train")] >= 1 and per[("b", "train")] >= 1
