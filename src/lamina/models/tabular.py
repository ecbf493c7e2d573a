"""A network for tables of numbers and categories: robust-scaled numbers with their missing flags, an embedding per
category column, joined and fed to an MLP (the shape Ludwig's and AutoGluon's tabular networks share).

Input: the table modality's rows (B, columns) float32 (lamina.data.table_data): numbers as they are (NaN when
missing), category indices (0: missing or unseen). ``ColumnScaling`` is the parameter-free front end; the
embeddings and the MLP are the network.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lamina.common.config import ModelConfig
from lamina.models.network import Network

DEFAULTS = {"width": 256, "depth": 2, "dropout": 0.1}
# small tables take many passes: the epochs auto range of a table model (lamina.training.budget)
TRAIN_DEFAULTS = {
    "batch_size": 128,
    "lr": 3e-3,
    "eval_batch_size": 1024,
    "label_smoothing": 0.0,
    "epoch_range": (20, 200),
}
MAX_EMBEDDING = 16  # widest category embedding


class ColumnScaling(nn.Module):
    """(B, columns) raw rows -> (B, 2 * numbers + categories): asinh of robust-scaled numbers (missing: 0), a 0/1
    flag per number that was missing, then the category indices as they came."""

    def __init__(self, prep):
        super().__init__()
        numbers = [i for i, c in enumerate(prep.columns) if c["kind"] == "number"]
        categories = [i for i, c in enumerate(prep.columns) if c["kind"] == "category"]
        self.register_buffer("numbers", torch.tensor(numbers, dtype=torch.int64))
        self.register_buffer("categories", torch.tensor(categories, dtype=torch.int64))
        self.register_buffer("median", torch.tensor([prep.columns[i]["median"] for i in numbers], dtype=torch.float32))
        self.register_buffer("scale", torch.tensor([prep.columns[i]["scale"] for i in numbers], dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, columns) -> (B, 2 * numbers + categories)
        nums = x.index_select(1, self.numbers)
        missing = torch.isnan(nums)
        # asinh: linear near the median, logarithmic in the tails, so a heavy-tailed column (a price) stays in range
        z = ((nums - self.median) / self.scale).clamp(-1e6, 1e6)
        squashed = torch.sign(z) * torch.log(z.abs() + torch.sqrt(z * z + 1))  # asinh, as ONNX export writes it
        scaled = torch.where(missing, torch.zeros_like(nums), squashed)
        return torch.cat([scaled, missing.to(x.dtype), x.index_select(1, self.categories)], dim=1)


def embedding_width(values: int) -> int:
    """The embedding width of a category column with ``values`` distinct values (the unseen index besides): fastai's
    rule of thumb 1.6 * n ** 0.56, at most MAX_EMBEDDING."""
    return max(2, min(MAX_EMBEDDING, round(1.6 * (values + 1) ** 0.56)))


class TabularMLP(Network):
    """Embeddings of the category columns beside the scaled numbers and their missing flags, then an MLP."""

    def __init__(self, numbers: int, cardinalities: list[int], outputs: int, width: int, depth: int, dropout: float):
        super().__init__()
        self.numbers = numbers
        self.embeddings = nn.ModuleList(nn.Embedding(n + 1, embedding_width(n)) for n in cardinalities)
        layers, fan_in = [], 2 * numbers + sum(e.embedding_dim for e in self.embeddings)
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), nn.LayerNorm(width), nn.GELU(), nn.Dropout(dropout)]
            fan_in = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(fan_in, outputs)
        for e in self.embeddings:
            nn.init.normal_(e.weight, std=1.0 / math.sqrt(e.embedding_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 2 * numbers + categories) -> (B, outputs)
        ids = x[:, 2 * self.numbers :].long()
        parts = [x[:, : 2 * self.numbers]] + [e(ids[:, i]) for i, e in enumerate(self.embeddings)]
        return self.head(self.body(torch.cat(parts, dim=1)))


def build(cfg: ModelConfig, input_shape: tuple, num_classes: int, prep) -> TabularMLP:
    """The configured TabularMLP for the table modality's ``prep`` (its columns decide numbers and embeddings)."""
    numbers = sum(c["kind"] == "number" for c in prep.columns)
    cardinalities = [len(c["values"]) for c in prep.columns if c["kind"] == "category"]
    return TabularMLP(numbers, cardinalities, num_classes, cfg.width, cfg.depth, cfg.dropout)
