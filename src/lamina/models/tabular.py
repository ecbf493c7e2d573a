"""A network for tables of numbers, categories and short texts: robust-scaled numbers with their missing flags,
an embedding per category column, a bag of each text's hashed terms, joined and fed to an MLP (the shape Ludwig's
and AutoGluon's tabular networks share); five such networks side by side, their outputs averaged (``TabularMLP``).

Input: the table modality's rows (B, columns) float32 (lamina.data.table_data): numbers as they are (NaN when
missing), category indices (0: missing or unseen), texts' term ids (0: no term). ``ColumnScaling`` is the
parameter-free front end; the embeddings, the bags and the MLP are the network.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lamina.common.config import ModelConfig
from lamina.models.network import Network

DEFAULTS = {"width": 256, "depth": 2, "dropout": 0.1, "members": 5}
# small tables take many passes: the epochs auto range of a table model (lamina.training.budget)
TRAIN_DEFAULTS = {
    "batch_size": 128,
    "lr": 3e-3,
    "eval_batch_size": 1024,
    "label_smoothing": 0.0,  # 0.1 measured within noise and left the wine notes unread (benchmarks/DEFAULTS.md)
    "epoch_range": (20, 200),
    # the best epoch by val loss, not accuracy: a small table's val split (a few hundred rows) ties or flips its
    # accuracy on a handful of rows; with the ensemble, level with gradient boosting on every dev table (DEFAULTS.md)
    "monitor": "loss",
}
MAX_EMBEDDING = 16  # widest category embedding
BAG_WIDTH = 16  # a text column's bag of terms, per member
# a bag's row moves only on the steps whose batch holds its term: at 10x the rate a 124-row table's words are read
# beside its numbers (at 1x they were not: importance 0); the packages' descriptions 0.896 / 0.888 (1x: 0.886)
BAG_LR_SCALE = 10.0
FILE_KINDS = ("image", "audio")  # columns whose cells are files (lamina.data.table_files): their values pass through


def number_width(column: dict) -> int:
    """What ColumnScaling makes of a number column: its scaled value, its missing flag, one value per quantile bin."""
    return 2 + max(0, len(column.get("edges", [])) - 1)


class ColumnScaling(nn.Module):
    """(B, row width) raw rows -> (B, dense + categories): asinh of robust-scaled numbers (missing: 0), a 0/1 flag per
    number that was missing, each number's piecewise-linear encoding over its train quantile bins (Gorishniy et al.,
    2022: 1 for the bins below the value, its place within its own bin, 0 above; a step in the label at any bin edge
    is one weight away, as a tree's split is), the files' pixels and samples as they came (lamina.models.file_columns
    reads them), then the category indices and the texts' term ids as they came."""

    def __init__(self, prep):
        super().__init__()
        spans = prep.spans
        numbers = [(c, at) for c, at, _ in spans if c["kind"] == "number"]
        bins = [
            (i, lo, hi)
            for i, (c, _) in enumerate(numbers)
            for lo, hi in zip(c.get("edges", []), c.get("edges", [])[1:])
        ]
        self.register_buffer("bin_column", torch.tensor([i for i, _, _ in bins], dtype=torch.int64))
        self.register_buffer("bin_low", torch.tensor([lo for _, lo, _ in bins], dtype=torch.float32))
        self.register_buffer("bin_width", torch.tensor([hi - lo for _, lo, hi in bins], dtype=torch.float32))
        texts = [i for c, at, w in spans if c["kind"] == "text" for i in range(at, at + w)]
        categories = [at for c, at, _ in spans if c["kind"] == "category"]
        files = [i for c, at, w in spans if c["kind"] in FILE_KINDS for i in range(at, at + w)]
        self.register_buffer("files", torch.tensor(files, dtype=torch.int64))
        self.register_buffer("numbers", torch.tensor([at for _, at in numbers], dtype=torch.int64))
        self.register_buffer("texts", torch.tensor(texts, dtype=torch.int64))
        self.register_buffer("categories", torch.tensor(categories, dtype=torch.int64))
        self.register_buffer("median", torch.tensor([c["median"] for c, _ in numbers], dtype=torch.float32))
        self.register_buffer("scale", torch.tensor([c["scale"] for c, _ in numbers], dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, row width) -> (B, dense + categories)
        parts = []
        nums = x.index_select(1, self.numbers)
        if len(self.median):  # the groups a table lacks are left out of the graph (an empty one would not export)
            missing = torch.isnan(nums)
            # asinh: linear near the median, logarithmic in the tails, so a heavy-tailed column (a price) stays in range
            z = ((nums - self.median) / self.scale).clamp(-1e6, 1e6)
            squashed = torch.sign(z) * torch.log(z.abs() + torch.sqrt(z * z + 1))  # asinh, as ONNX export writes it
            parts += [torch.where(missing, torch.zeros_like(nums), squashed), missing.to(x.dtype)]
        if len(self.bin_low):
            within = (nums.index_select(1, self.bin_column) - self.bin_low) / self.bin_width
            parts.append(torch.where(torch.isnan(within), torch.zeros_like(within), within.clamp(0.0, 1.0)))
        for index in (self.files, self.categories, self.texts):
            if len(index):
                parts.append(x.index_select(1, index))
        return torch.cat(parts, dim=1)


def embedding_width(values: int) -> int:
    """The embedding width of a category column with ``values`` distinct values (the unseen index besides): fastai's
    rule of thumb 1.6 * n ** 0.56, at most MAX_EMBEDDING."""
    return max(2, min(MAX_EMBEDDING, round(1.6 * (values + 1) ** 0.56)))


class MemberLinear(nn.Module):
    """``members`` linear layers side by side, each with its own weights: (M, B, fan_in) -> (M, B, fan_out), each
    initialised as nn.Linear initialises one."""

    def __init__(self, members: int, fan_in: int, fan_out: int):
        super().__init__()
        bound = 1.0 / math.sqrt(fan_in)
        self.weight = nn.Parameter(torch.empty(members, fan_in, fan_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, fan_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(x, self.weight) + self.bias


class MemberLayerNorm(nn.Module):
    """LayerNorm over the last dimension with a scale and shift of its own per member: (M, B, width)."""

    def __init__(self, members: int, width: int):
        super().__init__()
        self.width = width
        self.weight = nn.Parameter(torch.ones(members, 1, width))
        self.bias = nn.Parameter(torch.zeros(members, 1, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.layer_norm(x, (self.width,)) * self.weight + self.bias


class TabularMLP(Network):
    """Embeddings of the category columns and a bag of each text column's terms beside the scaled numbers and their
    missing flags (``dense`` values in all), then an MLP; ``members`` of them side by side (embeddings and layers of
    their own, the inputs shared), each trained on its own loss, their outputs averaged: a deep ensemble in one graph
    (Lakshminarayanan et al., 2017; AutoGluon bags its tabular networks for the same reason). In training mode the
    network answers each member's outputs (B, members, outputs) (lamina.models.network: per_member); in eval mode
    their mean (B, outputs). ``texts``: (buckets, slots) per text column."""

    def __init__(
        self,
        dense: int,
        cardinalities: list[int],
        outputs: int,
        width: int,
        depth: int,
        dropout: float,
        members: int,
        texts: list[tuple[int, int]] = (),
    ):
        super().__init__()
        self.dense, self.members, self.slots = dense, members, [s for _, s in texts]
        self.embeddings = nn.ModuleList(nn.Embedding(n + 1, members * embedding_width(n)) for n in cardinalities)
        self.bags = nn.ModuleList(
            nn.Embedding(b + 1, members * BAG_WIDTH, padding_idx=0, sparse=True) for b, _ in texts
        )
        layers, fan_in = [], dense + sum(embedding_width(n) for n in cardinalities) + BAG_WIDTH * len(texts)
        for _ in range(depth):
            layers += [MemberLinear(members, fan_in, width), MemberLayerNorm(members, width), nn.GELU()]
            layers.append(nn.Dropout(dropout))
            fan_in = width
        self.body = nn.Sequential(*layers)
        self.head = MemberLinear(members, fan_in, outputs)
        for n, e in zip(cardinalities, self.embeddings):
            nn.init.normal_(e.weight, std=1.0 / math.sqrt(embedding_width(n)))
        for bag in self.bags:
            nn.init.normal_(bag.weight, std=1.0 / math.sqrt(BAG_WIDTH))
            bag.weight.data[0] = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, dense + categories + slots) -> (B, [M,] outputs)
        ids = x[:, self.dense :].long()
        shared = x[:, : self.dense].unsqueeze(0).expand(self.members, -1, -1)  # (M, B, dense)
        parts = [shared] + [  # each member's embedding of each category: (M, B, width)
            self._per_member(e(ids[:, i])) for i, e in enumerate(self.embeddings)
        ]
        at = len(self.embeddings)
        for bag, slots in zip(self.bags, self.slots):
            terms = ids[:, at : at + slots]
            at += slots
            count = (terms > 0).sum(1, keepdim=True).clamp(min=1).to(x.dtype)
            parts.append(self._per_member(bag(terms).sum(1) / count.sqrt()))  # padding rows are zero
        out = self.head(self.body(torch.cat(parts, dim=2)))  # (M, B, outputs)
        if self.training and self.members > 1:
            return out.transpose(0, 1)
        return out.mean(0)

    def lr_groups(self) -> list[tuple[nn.Module, float]]:
        """The text bags train faster than the rest (BAG_LR_SCALE)."""
        return [(bag, BAG_LR_SCALE) for bag in self.bags]

    def _per_member(self, e: torch.Tensor) -> torch.Tensor:  # (B, M * width) -> (M, B, width)
        return e.reshape(-1, self.members, e.shape[-1] // self.members).transpose(0, 1)


def build(cfg: ModelConfig, input_shape: tuple, num_classes: int, prep, load_pretrained: bool = True) -> Network:
    """The configured TabularMLP for the table modality's ``prep`` (its columns decide the widths and embeddings);
    behind frozen pretrained encoders when the table has image or audio columns (lamina.models.file_columns)."""
    from lamina.models.file_columns import FEATURES, file_network

    dense = sum(number_width(c) for c in prep.columns if c["kind"] == "number")
    cardinalities = [len(c["values"]) for c in prep.columns if c["kind"] == "category"]
    texts = [(int(c["buckets"]), int(c["width"])) for c in prep.columns if c["kind"] == "text"]
    files = [c for c in prep.columns if c["kind"] in FILE_KINDS]
    mlp = TabularMLP(
        dense + sum(FEATURES[c["kind"]] for c in files),
        cardinalities,
        num_classes,
        cfg.width,
        cfg.depth,
        cfg.dropout,
        cfg.members,
        texts,
    )
    if not files:
        return mlp
    return file_network(mlp, dense, files, len(cardinalities) + sum(s for _, s in texts), load_pretrained)
