import pytest

from lamina.common.config import TrainConfig
from lamina.training.optim import lr_at


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "constant"])
def test_schedule_shapes(schedule):
    cfg = TrainConfig(lr=1.0, warmup=0.2, schedule=schedule)
    lrs = [lr_at(s, 100, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(0.04)
    assert max(lrs) == pytest.approx(1.0) and lrs[20] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(lrs[:20], lrs[1:21]))  # rising during warmup
    if schedule == "constant":
        assert lrs[-1] == 1.0
    else:
        assert all(a >= b for a, b in zip(lrs[20:], lrs[21:])) and lrs[-1] < 0.05


def test_auto_epochs_is_a_sample_budget_within_bounds():
    from lamina.training.budget import AUTO_EPOCH_SAMPLES, auto_epochs

    assert auto_epochs(7, 10) == 7  # an explicit count is kept
    assert auto_epochs("auto", 1_437) == 30  # small sets: capped
    assert auto_epochs("auto", 54_000) == round(AUTO_EPOCH_SAMPLES / 54_000) == 10
    assert auto_epochs("auto", 10_000_000) == 5  # huge sets: at least 5 passes


def test_batch_size_and_lr_default_per_model():
    from lamina.common.config import TrainConfig
    from lamina.models.registry import TRAIN_DEFAULTS, train_defaults
    from lamina.training.budget import resolve_train

    images = resolve_train(TrainConfig(), "resnet-small", 54_000)
    assert (images.epochs, images.batch_size, images.lr, images.eval_batch_size) == (10, 256, 5e-3, 256)
    other = resolve_train(TrainConfig(), "mlp", 1_000)
    assert (
        (other.batch_size, other.lr, other.eval_batch_size, other.label_smoothing, (5, 30), None)
        == tuple(TRAIN_DEFAULTS.values())
        == (128, 3e-3, 512, 0.1, (5, 30), None)
    )
    assert other.monitor == "accuracy"  # no monitor of its own: the task's metric
    assert train_defaults("dscnn") == {**TRAIN_DEFAULTS, "eval_batch_size": 128}  # audio evaluates in smaller batches
    assert resolve_train(TrainConfig(), "speech-embedding", 1_000).label_smoothing == 0.0  # frozen embedding: none
    assert resolve_train(TrainConfig(label_smoothing=0.2), "speech-embedding", 1_000).label_smoothing == 0.2
    assert resolve_train(TrainConfig(), "mlp", 1_000, "regression").monitor == "r2"
    mine = resolve_train(TrainConfig(batch_size=32, lr=0.1, eval_batch_size=1000), "resnet-small", 54_000)
    assert (mine.batch_size, mine.lr, mine.eval_batch_size) == (32, 0.1, 1000)  # what the user sets wins
    # the loop probes memory
    assert resolve_train(TrainConfig(batch_size="auto"), "resnet-small", 10).batch_size == "auto"


def test_epochs_auto_is_written_into_the_run_config(tmp_path):
    import yaml

    from helpers import make_image_folders
    import lamina

    make_image_folders(tmp_path / "d", per_class=10)
    lamina.train(
        {"data": {"path": str(tmp_path / "d")}, "model": {"name": "mlp"}, "train": {"early_stopping": 2}},
        output=tmp_path / "r",
    )
    train = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())["train"]
    # all written in
    assert (train["epochs"], train["batch_size"], train["lr"], train["eval_batch_size"]) == (
        30,
        128,
        0.003,
        512,
    )


def test_lazy_adamw_matches_adamw_on_dense_rows_and_moves_only_touched_sparse_rows():
    import torch

    from lamina.training.optim import LazyAdamW, clip_gradients, make_optimizer

    torch.manual_seed(0)
    dense = torch.nn.Linear(4, 3)
    reference = torch.nn.Linear(4, 3)
    reference.load_state_dict(dense.state_dict())
    bag = torch.nn.Embedding(10, 3, sparse=True)
    model = torch.nn.ModuleDict({"dense": dense, "bag": bag})
    cfg = TrainConfig(lr=0.01, weight_decay=0.05)
    opt, ref_opt = make_optimizer(model, cfg), make_optimizer(reference, cfg)
    assert isinstance(opt, LazyAdamW) and isinstance(ref_opt, torch.optim.AdamW)
    touched, untouched = bag.weight[:5].detach().clone(), bag.weight[5:].detach().clone()
    x, ids = torch.randn(8, 4), torch.tensor([[1, 2], [2, 3], [0, 4], [1, 1]])
    for _ in range(3):
        for o in (opt, ref_opt):
            o.zero_grad()
        (dense(x).pow(2).sum() + bag(ids).pow(2).sum()).backward()
        reference(x).pow(2).sum().backward()
        clip_gradients(model, 1e6)  # a sparse gradient in the norm: no error, nothing scaled at this bound
        opt.step()
        ref_opt.step()
    torch.testing.assert_close(dense.weight, reference.weight, rtol=1e-6, atol=1e-7)  # the same AdamW, decay included
    torch.testing.assert_close(bag.weight[5:], untouched, rtol=0, atol=0)  # rows no batch touched did not move
    assert (bag.weight[:5] != touched).all() and opt.state[bag.weight]["exp_avg"][5:].abs().sum() == 0
