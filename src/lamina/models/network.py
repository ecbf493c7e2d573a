"""The contract between a network and the trainer: what the trainer may ask of a registered network, and nothing more.

A network subclasses :class:`Network` and declares:

- ``lr_groups()``: the submodules that train at a fraction of the schedule's learning rate (a
  pretrained encoder fine-tuned at 0.01 of it); everything else trains at the full rate;
- ``freeze``: True when it has a frozen encoder. Then ``features(x)`` is a fixed function of the
  input, ``feature_width`` its width, and ``head`` (a submodule named ``head``) maps features to
  outputs: the trainer encodes every sample once and trains the head alone;
- ``embedding_width``: the width of ``embedding_of(features)``, an embedding in which near means alike (cosine), for
  a label review's neighbours (lamina.training.neighbours); 0 when there is none. By default the leading columns.
- ``feature_dtype``: what those features are kept in once computed (float32; float16 where they are large feature
  maps): the head takes them in it;
- ``mirrors_features``: True when ``mirrored(features)`` stands for the features of the mirrored input (a frozen
  backbone's feature maps flipped left-right): with ``data.augment.flip`` the trainer mirrors half of each batch.

In training mode a network of several members trained side by side (a deep ensemble in one graph) may answer
each member's outputs, (B, members, outputs): each member is trained on its own loss (``per_member``) and the
answer counted is their mean (``ensemble_answer``). In eval mode, and so in every exported graph, a network answers
(B, outputs).

A registered builder may also return a plain ``nn.Module``: it trains whole, at the full rate.
The trainer reaches these through :class:`FullNetwork` (the modality's front end, then the network), never into
the network.
"""

from __future__ import annotations

import re

import torch
from torch import nn


class Network(nn.Module):
    """A registered network (see the module's docstring for the contract)."""

    freeze: bool = False  # a frozen encoder: features() are fixed; only the head trains
    feature_width: int = 0  # of features(), when freeze
    embedding_width: int = 0  # of embedding_of(): where near means alike; 0: none
    mirrors_features: bool = False  # mirrored() is defined
    feature_dtype: torch.dtype = torch.float32  # how features() are kept once computed; the head takes that dtype

    def lr_groups(self) -> list[tuple[nn.Module, float]]:
        """(submodule, fraction of the learning rate) for the parts that train slower than the rest."""
        return []

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (B, ...) -> (B, feature_width)
        raise NotImplementedError(f"{type(self).__name__} has no frozen encoder")

    def embedding_of(self, features: torch.Tensor) -> torch.Tensor:  # (B, feature_width) -> (B, embedding_width)
        return features[:, : self.embedding_width]

    def mirrored(self, features: torch.Tensor) -> torch.Tensor:  # (B, feature_width) -> the same, mirrored inputs'
        raise NotImplementedError(f"{type(self).__name__} does not mirror its features")


def per_member(out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch's outputs and targets with one row per answer: (B, outputs) as they are; each member's
    (B, members, outputs) as (B * members, outputs), each target repeated once per member."""
    if out.dim() != 3:
        return out, y
    return out.flatten(0, 1), y.repeat_interleave(out.shape[1], dim=0)


def ensemble_answer(out: torch.Tensor) -> torch.Tensor:
    """The (B, outputs) answer of a batch's outputs: the members' mean where there are several."""
    return out.mean(1) if out.dim() == 3 else out


def lr_scales(module: nn.Module) -> dict[int, float]:
    """Parameter id -> the fraction of the learning rate it trains at, for every Network inside ``module`` that
    declares slower groups (parameters not listed train at the full rate)."""
    scales: dict[int, float] = {}
    for net in module.modules():
        if isinstance(net, Network):
            for sub, scale in net.lr_groups():
                scales.update({id(p): float(scale) for p in sub.parameters()})
    return scales


# What a network answers per sample: one vector (B, outputs) is all there is. A task that needs another shape (an
# answer per token, per box) declares it (lamina.data.task: answer_shape) and is refused until networks give it.
ANSWER_SHAPES = ("vector",)

LEGACY_PREFIXES = {"normalize.": "frontend."}  # weights saved before the front end had its name
# EfficientNet-Lite0's last block and head convolution, moved into its head (trained on the frozen maps before them):
# at the start of a key or after a ``net.`` (the package's network, a table's photo encoder)
LEGACY_PARTS = {"_blocks.15.": "head.block.", "_conv_head.": "head.conv.", "_bn1.": "head.bn."}
_LEGACY_PART = re.compile(r"(^|(?<![^.])net\.)(" + "|".join(re.escape(p) for p in LEGACY_PARTS) + ")")


def current_keys(state: dict) -> dict:
    """A saved state dict with the key names of this version (packages and checkpoints of earlier ones load)."""
    out = {}
    for key, value in state.items():
        old = next((p for p in LEGACY_PREFIXES if key.startswith(p)), None)
        key = LEGACY_PREFIXES[old] + key[len(old) :] if old else key
        out[_LEGACY_PART.sub(lambda m: m.group(1) + LEGACY_PARTS[m.group(2)], key)] = value
    return out


class FullNetwork(nn.Module):
    """The whole network a model package holds, for every task: the modality's front end (pixel normalisation,
    log-mels, or nothing for token ids; lamina.models.modality), then a registered network. Input: what the
    modality's ``model_input`` makes of a batch."""

    def __init__(self, frontend: nn.Module, net: nn.Module):
        super().__init__()
        self.frontend = frontend
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # model input -> (B, outputs) raw
        return self.net(self.frontend(x))

    # --- what the trainer asks (lamina.models.network) ------------------------------------------------------------
    @property
    def frozen_encoder(self) -> bool:
        """The network has a frozen encoder: ``encode`` is a fixed function of the input, and ``head`` trains alone."""
        return isinstance(self.net, Network) and bool(self.net.freeze)

    @property
    def head(self) -> nn.Module:  # features (B, feature_width) -> outputs
        return self.net.head

    @property
    def feature_width(self) -> int:
        return self.net.feature_width

    @property
    def embedding_width(self) -> int:
        return self.net.embedding_width if isinstance(self.net, Network) else 0

    def embedding_of(self, features: torch.Tensor) -> torch.Tensor:  # (B, feature_width) -> (B, embedding_width)
        return self.net.embedding_of(features)

    @property
    def feature_dtype(self) -> torch.dtype:
        return self.net.feature_dtype

    @property
    def mirrors_features(self) -> bool:
        return isinstance(self.net, Network) and self.net.mirrors_features

    def mirrored(self, features: torch.Tensor) -> torch.Tensor:  # (B, feature_width) -> the mirrored inputs' features
        return self.net.mirrored(features)

    def encode(
        self, x: torch.Tensor
    ) -> torch.Tensor:  # model input -> (B, feature_width) features of the frozen encoder
        return self.net.features(self.frontend(x))

    def encoder_state(self) -> dict[str, torch.Tensor]:
        """Every tensor of the front end and the network but the head's: what a frozen encoder's features depend on."""
        front = {f"frontend.{name}": t for name, t in self.frontend.state_dict().items()}
        return front | {name: t for name, t in self.net.state_dict().items() if not name.startswith("head.")}
