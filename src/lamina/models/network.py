"""The contract between a network and the trainer: what the trainer may ask of a registered network, and nothing more.

A network subclasses :class:`Network` and declares:

- ``lr_groups()``: the submodules that train at a fraction of the schedule's learning rate (a
  pretrained encoder fine-tuned at 0.01 of it); everything else trains at the full rate;
- ``freeze``: True when it has a frozen encoder. Then ``features(x)`` is a fixed function of the
  input, ``feature_width`` its width, and ``head`` (a submodule named ``head``) maps features to
  outputs: the trainer encodes every sample once and trains the head alone.

A registered builder may also return a plain ``nn.Module``: it trains whole, at the full rate.
The trainer reaches these through :class:`lamina.models.registry.Classifier`, never into the network.
"""

from __future__ import annotations

import torch
from torch import nn


class Network(nn.Module):
    """A registered network (see the module's docstring for the contract)."""

    freeze: bool = False  # a frozen encoder: features() are fixed; only the head trains
    feature_width: int = 0  # of features(), when freeze

    def lr_groups(self) -> list[tuple[nn.Module, float]]:
        """(submodule, fraction of the learning rate) for the parts that train slower than the rest."""
        return []

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (B, ...) -> (B, feature_width)
        raise NotImplementedError(f"{type(self).__name__} has no frozen encoder")


def lr_scales(module: nn.Module) -> dict[int, float]:
    """Parameter id -> the fraction of the learning rate it trains at, for every Network inside ``module`` that
    declares slower groups (parameters not listed train at the full rate)."""
    scales: dict[int, float] = {}
    for net in module.modules():
        if isinstance(net, Network):
            for sub, scale in net.lr_groups():
                scales.update({id(p): float(scale) for p in sub.parameters()})
    return scales
