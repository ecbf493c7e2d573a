"""The table model's deep ensemble: members trained side by side in one graph, each on its own loss."""

from __future__ import annotations

import torch

from lamina.common.config import TrainConfig
from lamina.data.task import Task
from lamina.models.tabular import TabularMLP
from lamina.training.budget import resolve_train
from lamina.training.objective import Objective


def _net(members: int = 3) -> TabularMLP:
    torch.manual_seed(0)
    return TabularMLP(dense=4, cardinalities=[5, 2], outputs=3, width=8, depth=2, dropout=0.0, members=members)


def _rows(n: int = 6) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    dense = torch.randn(n, 4, generator=g)
    ids = torch.stack([torch.randint(0, 6, (n,), generator=g), torch.randint(0, 3, (n,), generator=g)], 1)
    return torch.cat([dense, ids.float()], 1)


def test_training_answers_each_member_and_eval_their_mean():
    net, x = _net(), _rows()
    members = net.train()(x)
    assert members.shape == (6, 3, 3)
    assert not torch.allclose(members[:, 0], members[:, 1])  # initialised apart
    torch.testing.assert_close(net.eval()(x), members.mean(1))  # no dropout here: eval is the members' mean


def test_a_members_loss_reaches_its_own_weights_only():
    net, x = _net(), _rows()
    net.train()(x)[:, 1].sum().backward()
    first = net.body[0]
    assert first.weight.grad[1].abs().sum() > 0
    assert first.weight.grad[0].abs().sum() == 0 and first.weight.grad[2].abs().sum() == 0
    width = net.embeddings[0].embedding_dim // 3  # each member's slice of a category's embedding
    grads = net.embeddings[0].weight.grad
    assert grads[:, width : 2 * width].abs().sum() > 0
    assert grads[:, :width].abs().sum() == 0 and grads[:, 2 * width :].abs().sum() == 0


def test_the_loss_is_the_mean_of_the_members_losses_and_hits_count_their_mean():
    task = Task("classification", ["a", "b", "c"])
    objective = Objective(task)
    out = torch.randn(6, 3, 3, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    each = [torch.nn.functional.cross_entropy(out[:, m], y) for m in range(3)]
    torch.testing.assert_close(objective.loss(out, y), torch.stack(each).mean())
    assert objective.hits(out, y) == (out.mean(1).argmax(1) == y).sum()


def test_one_member_is_a_plain_mlp():
    net, x = _net(members=1), _rows()
    assert net.train()(x).shape == (6, 3)


def test_table_models_stop_on_val_loss_and_the_others_on_the_tasks_metric():
    assert resolve_train(TrainConfig(), "tabular-mlp", 500).monitor == "loss"
    assert resolve_train(TrainConfig(), "resnet-small", 500).monitor == "accuracy"
    assert resolve_train(TrainConfig(monitor="accuracy"), "tabular-mlp", 500).monitor == "accuracy"


def test_a_text_bag_reads_each_term_once_and_ignores_padding():
    """The bag of a text column: the same terms in any order and any amount of padding give the same answer; a
    different term changes it."""
    torch.manual_seed(0)
    net = TabularMLP(1, [], 3, width=8, depth=1, dropout=0.0, members=2, texts=[(100, 6)]).eval()
    rows = torch.tensor([[0.5, 3, 7, 9, 0, 0, 0], [0.5, 9, 3, 7, 0, 0, 0], [0.5, 9, 3, 8, 0, 0, 0]])
    out = net(rows)
    assert torch.allclose(out[0], out[1], atol=1e-6) and not torch.allclose(out[0], out[2])
    assert net.bags[0].sparse and torch.count_nonzero(net.bags[0].weight[0]) == 0  # padding: a zero row


def test_the_text_bags_train_at_their_own_rate_lazily():
    from lamina.models.tabular import BAG_LR_SCALE
    from lamina.training.optim import LazyAdamW, make_optimizer

    net = TabularMLP(1, [3], 2, width=8, depth=1, dropout=0.0, members=2, texts=[(100, 6)])
    opt = make_optimizer(net, TrainConfig())
    bag = [g for g in opt.param_groups if any(p is net.bags[0].weight for p in g["params"])]
    assert isinstance(opt, LazyAdamW) and bag[0]["lr_scale"] == BAG_LR_SCALE > 1
    assert all(g["lr_scale"] == 1.0 for g in opt.param_groups if g is not bag[0])
