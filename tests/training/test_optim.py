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
