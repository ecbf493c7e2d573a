"""Text classifiers trained from scratch over subword ids: fastText-style bag and TextCNN.

Both take (B, L) int64 token ids, right-padded with 0, and return logits (B, num_classes).
Padding never changes an output: the bag averages over real tokens only, and the CNN
masks padded positions out of its max-pool.
"""

from __future__ import annotations

import torch
from torch import nn

from lamina.common.config import ModelConfig
from lamina.models.network import Network

FASTTEXT_DEFAULTS = {"width": 64, "dropout": 0.5}
TEXTCNN_DEFAULTS = {"width": 128, "dropout": 0.5}
BIGRAM_BUCKETS = 1 << 16  # hashed bigram embeddings (fastText uses 2M; small corpora need far fewer)
BIGRAM_PRIME = 1_000_003
KERNELS = (3, 4, 5)  # TextCNN filter widths, in tokens (Kim, 2014)


class FastText(Network):
    """Mean of unigram and hashed-bigram embeddings -> dropout -> linear (Joulin et al., 2016)."""

    def __init__(self, vocab_size: int, num_classes: int, dim: int, dropout: float):
        super().__init__()
        self.unigrams = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.bigrams = nn.Embedding(BIGRAM_BUCKETS, dim)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, num_classes)
        nn.init.normal_(self.unigrams.weight, std=0.1)
        nn.init.normal_(self.bigrams.weight, std=0.1)
        with torch.no_grad():
            self.unigrams.weight[0].zero_()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, L) int64 -> (B, K)
        mask = (ids != 0).unsqueeze(-1).to(self.unigrams.weight.dtype)  # (B, L, 1)
        pair_mask = mask[:, 1:] * mask[:, :-1]  # (B, L-1, 1): both tokens real
        pairs = (ids[:, :-1] * BIGRAM_PRIME + ids[:, 1:]) % BIGRAM_BUCKETS  # (B, L-1)
        total = (self.unigrams(ids) * mask).sum(1) + (self.bigrams(pairs) * pair_mask).sum(1)  # (B, D)
        count = (mask.sum(1) + pair_mask.sum(1)).clamp_min(1.0)  # (B, 1)
        return self.fc(self.dropout(total / count))


class TextCNN(Network):
    """Embeddings -> parallel 1-D convolutions of widths 3/4/5 -> masked max over time -> linear (Kim, 2014)."""

    def __init__(self, vocab_size: int, num_classes: int, dim: int, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(dim, dim, k, padding=k // 2) for k in KERNELS)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(dim * len(KERNELS), num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, L) int64 -> (B, K)
        x = self.dropout(self.embed(ids)).transpose(1, 2)  # (B, D, L)
        pad = (ids == 0).unsqueeze(1)  # (B, 1, L)
        pooled = []
        for conv in self.convs:
            h = torch.relu(conv(x))[:, :, : ids.shape[1]]  # (B, D, L): even widths give one extra position
            pooled.append(h.masked_fill(pad, 0.0).amax(dim=2))  # ReLU outputs are >= 0, so 0 masks like -inf
        return self.fc(self.dropout(torch.cat(pooled, dim=1)))


def build_fasttext(cfg: ModelConfig, input_shape: tuple, num_classes: int, vocab_size: int) -> nn.Module:
    return FastText(vocab_size, num_classes, cfg.width, cfg.dropout)


def build_textcnn(cfg: ModelConfig, input_shape: tuple, num_classes: int, vocab_size: int) -> nn.Module:
    return TextCNN(vocab_size, num_classes, cfg.width, cfg.dropout)
