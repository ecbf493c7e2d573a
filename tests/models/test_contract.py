"""The contract every registered model passes: builds from config, right output shape,
trains a step, and round-trips through the model package (save -> load -> same outputs)."""

import pytest
import torch

from lamina.common.config import ModelConfig
from lamina.common.errors import ConfigError
from lamina.data.image import ImagePreprocess
from lamina.models.package import Predictor, load_model, package_meta, save_package
from lamina.models.registry import MODELS, ModelSpec, build_model, register, registered, resolve

LAYERS = [{"conv": 8}, "relu", {"pool": 2}, "batchnorm", {"conv": {"filters": 8, "kernel": 3, "stride": 2}}, "gelu",
          {"dense": 16}, {"dropout": 0.1}]
CASES = {"mlp": {}, "resnet-small": {"width": 8}, "sequential": {"layers": LAYERS}}


def test_every_registered_model_has_a_contract_case():
    assert set(registered()) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 28, 28), (3, 64, 48)])
def test_model_contract(name, shape, tmp_path):
    torch.manual_seed(0)
    cfg = resolve(ModelConfig(name=name, **CASES[name]))
    assert cfg.width is not None or name == "sequential"
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
    meta = package_meta(name="t", modality="image", labels=list("abcde"), prep=ImagePreprocess(shape[1], shape[0]), mean=mean,
                        std=std, model_cfg=cfg, metrics={}, fingerprint="f")
    meta["input"]["shape"] = [-1, *shape]
    save_package(tmp_path / "model", model, meta)
    loaded, loaded_meta = load_model(tmp_path)
    assert loaded_meta["labels"] == list("abcde")
    torch.testing.assert_close(loaded(x), before, rtol=0, atol=0)


def test_predictor_returns_sorted_top_k(tmp_path):
    cfg = resolve(ModelConfig(name="mlp"))
    model = build_model(cfg, (1, 8, 8), 3, [0.0], [1.0]).eval()
    meta = package_meta(name="t", modality="image", labels=["x", "y", "z"], prep=ImagePreprocess(8, 1), mean=[0.0], std=[1.0],
                        model_cfg=cfg, metrics={}, fingerprint="f")
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
