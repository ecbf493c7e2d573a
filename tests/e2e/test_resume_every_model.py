"""Exact resume for every registered model: killed with SIGKILL halfway, resumed by the same
command, the final weights equal an uninterrupted run's bit for bit (BatchNorm, dropout,
channels-last convolutions, frozen encoders with cached features, audio front-ends). Each trained
model is then explained by every method that applies to it (`lamina.explain`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file

from helpers import make_tiny_bert, run_cli
from lamina.models.registry import registered

SMALL = ["--deterministic", "--seed", "5", "--set", "train.epochs=3", "--set", "train.checkpoint_every=2"]
CASES = {  # name -> (data fixture, extra options)
    # Small batches on the fast models: enough steps (90 per epoch) that the kill lands halfway, not after the end.
    "mlp": ("digits", ["--set", "train.batch_size=16"]),
    "resnet-small": ("digits", ["--set", "train.batch_size=32"]),  # BatchNorm, channels-last, fused AdamW
    "sequential": (
        "digits",
        [
            "--set",
            "train.batch_size=16",
            "--set",
            "model.layers=[{conv: 16}, relu, {conv: 16}, relu, {pool: 2}, {dropout: 0.2}, {dense: 32}]",
        ],
    ),
    "fasttext": ("corpus", ["--set", "train.batch_size=16"]),
    "textcnn": ("corpus", ["--set", "train.batch_size=16"]),
    "minilm": ("corpus", ["--set", "train.batch_size=16"]),  # frozen encoder: cached features, head only
    "minilm-finetuned": (
        "corpus",
        ["--set", "train.batch_size=16", "--set", "model.freeze=false"],
    ),  # dropout, lr_scale groups
    "dscnn": (
        "kws",
        ["--set", "train.batch_size=16", "--set", "model.width=32", "--set", "model.depth=2"],
    ),  # log-mel front end
    "speech-embedding": (
        "kws",
        ["--set", "train.batch_size=8", "--set", "model.freeze=true"],
    ),  # frozen: the clips' embeddings computed once, head only
    "speech-embedding-finetuned": (
        "kws",
        ["--set", "train.batch_size=16"],
    ),  # fine-tuned (its default): waveform augmentation
    "tabular-mlp": ("wine_table", ["--set", "train.batch_size=4"]),  # NaN cells, embeddings, LayerNorm
    # an image column: the frozen photo backbone inside the table model, its features computed again on resume
    "tabular-mlp-files": ("listings_table", ["--set", "train.batch_size=2"]),
    # fine-tuned (a frozen backbone trains its head in a blink): BatchNorm, channels-last, two learning rates
    "efficientnet-lite0": (
        "photos",
        ["--set", "model.freeze=false", "--set", "data.image_size=64", "--set", "train.batch_size=16"],
    ),
}


def test_every_registered_model_is_covered():
    assert set(registered()) <= {_model(name) for name in CASES}


def _model(case: str) -> str:
    """The registered model a case trains ("minilm-finetuned": minilm, "tabular-mlp-files": tabular-mlp)."""
    return case.removesuffix("-finetuned").removesuffix("-files")


def _step(out) -> int:
    try:
        return json.loads((out / "checkpoints" / "last" / "state.json").read_text())["train"]["global_step"]
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.parametrize("case", sorted(CASES))
def test_sigkill_then_resume_is_bit_identical(case, request, tmp_path):
    fixture, extra = CASES[case]
    data = request.getfixturevalue(fixture)
    name = _model(case)
    args = [*SMALL, "--set", f"model.name={name}", *extra]
    if name == "minilm":
        from lamina.data.text_data import read_text_table

        args += ["--set", f"model.pretrained={make_tiny_bert(tmp_path / 'bert', read_text_table(data).texts)}"]
    reference = tmp_path / "reference"
    r = run_cli("train", data, "--output", reference, *args)
    assert r.returncode == 0, r.stderr
    total = _step(reference)
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "lamina", "train", str(data), "--output", str(out), *map(str, args)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while proc.poll() is None and _step(out) < total // 2 and time.monotonic() < deadline:
        time.sleep(0.002)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.kill()  # SIGKILL
    proc.wait()
    killed_at = _step(out)
    assert 0 < killed_at < total
    r = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stderr
    a, b = load_file(reference / "model" / "model.safetensors"), load_file(out / "model" / "model.safetensors")
    assert set(a) == set(b)
    differ = [k for k in a if not (a[k] == b[k]).all()]
    assert differ == [], f"{case}: killed at step {killed_at} of {total}, resumed weights differ in {differ[:5]}"
    _explained_by_every_method(reference, _one_input(fixture, data), gradients=not fixture.endswith("_table"))


def _one_input(fixture: str, data):
    """One input of the fixture's kind, as lamina explain takes it."""
    if fixture == "corpus":
        import csv

        with open(data, newline="") as f:
            return next(csv.DictReader(f))["text"]
    if fixture == "wine_table":
        row = {"alcohol": 13.2, "malic_acid": 1.8, "color_intensity": 5.1, "proline": 1050, "grade": "deep"}
        return json.dumps(row | {"flavanoids": None, "hue": None, "cellar": None, "notes": "dark fruit"})
    if fixture == "listings_table":
        return json.dumps({"photo": str(data.parent / "photos" / "4.png"), "price": 20.0, "shop": "north"})
    return str(sorted(p for p in data.rglob("*") if p.suffix in (".png", ".wav") and "_" not in p.parent.name)[0])


def _explained_by_every_method(run, item, gradients: bool) -> None:
    """auto and occlusion explain every model; integrated gradients every one but a table's (``gradients``); Grad-CAM
    where the last feature map is fine enough; a method that does not apply is refused, naming occlusion."""
    from lamina.api import explain
    from lamina.common.errors import ConfigError

    methods = {explain(run, item, method=m)[0]["method"] for m in ("auto", "occlusion")}
    assert "occlusion" in methods
    for method in ("integrated-gradients", "grad-cam"):
        try:
            (record,) = explain(run, item, method=method)
        except ConfigError as e:
            assert "--method occlusion" in str(e) and (method == "grad-cam" or not gradients), e
            continue
        assert record["method"] == method and len(record["map"]) > 0
