"""batch_size: auto (memory probing) and micro-batches with gradient accumulation."""

import json

import numpy as np
import pytest
import torch

import lamina
from helpers import make_image_folders
from lamina.common.config import ModelConfig
from lamina.models.modality import torch_modality
from lamina.models.registry import build_model, resolve, train_defaults
from lamina.training import memory
from lamina.training.engine import autocast

PLAIN = {"name": "sequential", "layers": [{"dense": 64}, "relu"]}  # no BatchNorm: micro-batches change nothing but sums


def _model():
    torch.manual_seed(0)
    return build_model(resolve(ModelConfig(name="resnet-small")), (1, 28, 28), 10, [0.0], [1.0])


def test_probe_fits_the_memory_it_is_given(monkeypatch):
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    roomy = memory.probe_batch_sizes(
        model,
        torch.zeros((1, 1, 28, 28), dtype=torch.uint8),
        torch_modality("image").model_input,
        "cpu",
        lambda: autocast("cpu", "fp32"),
        limit_train=128,
    )
    assert roomy["micro_batch_size"] == 128 and roomy["eval_batch_size"] >= 512
    # training keeps activations for backward
    assert roomy["bytes_per_sample_train"] > roomy["bytes_per_sample_eval"] > 0
    monkeypatch.setattr(memory, "_cpu_available", lambda: int(20 * roomy["bytes_per_sample_train"] / memory.SAFETY))
    tight = memory.probe_batch_sizes(
        model,
        torch.zeros((1, 1, 28, 28), dtype=torch.uint8),
        torch_modality("image").model_input,
        "cpu",
        lambda: autocast("cpu", "fp32"),
        limit_train=128,
    )
    assert 1 <= tight["micro_batch_size"] <= 32 and tight["micro_batch_size"] & (tight["micro_batch_size"] - 1) == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BatchNorm statistics restored


def test_micro_batches_accumulate_to_the_same_training(tmp_path):
    data = make_image_folders(tmp_path / "d", classes=("a", "b", "c"), per_class=40, size=8)
    base = {"data": {"path": str(data)}, "model": PLAIN, "train": {"epochs": 3, "batch_size": 64, "precision": "fp32"}}
    whole = lamina.train(base, output=tmp_path / "whole")
    split = lamina.train({**base, "train": {**base["train"], "micro_batch_size": 16}}, output=tmp_path / "split")
    assert split["batch"] == {"batch_size": 64, "micro_batch_size": 16, "accumulation": 4, "eval_batch_size": 512}

    def losses(run):
        return [json.loads(x)["loss"] for x in (run / "metrics.jsonl").read_text().splitlines() if '"train"' in x]

    assert np.allclose(losses(tmp_path / "whole"), losses(tmp_path / "split"), rtol=1e-4)
    assert whole["metrics"]["val"]["accuracy"] == pytest.approx(split["metrics"]["val"]["accuracy"], abs=0.02)


def test_batch_size_auto_is_recorded_in_the_run(tmp_path):
    data = make_image_folders(tmp_path / "d", per_class=10)
    lamina.train(
        {"data": {"path": str(data)}, "model": {"name": "mlp"}, "train": {"epochs": 1, "batch_size": "auto"}},
        output=tmp_path / "r",
    )
    batch = json.loads((tmp_path / "r" / "run.json").read_text())["result"]["batch"]
    mlp = train_defaults("mlp")  # auto keeps the model's optimizer batch, and its evaluation batch as the ceiling
    assert (
        batch["batch_size"] == mlp["batch_size"]
        and batch["micro_batch_size"] * batch["accumulation"] >= mlp["batch_size"]
    )
    assert 1 <= batch["eval_batch_size"] <= mlp["eval_batch_size"]
