"""lamina export --quantize int8: static int8 behind a val accuracy gate, then served in place of fp32."""

import json
import shutil

import numpy as np
import pytest

from helpers import run_cli
from lamina.common.errors import LaminaError
from lamina.common.files import sha256_file
from lamina.exporting.quantize import INT8_FILE, QuantizationRefused, allowed_drop, quantize_int8
from lamina.serve.runtime import load_served_model


@pytest.fixture
def run_copy(digits_run, tmp_path):
    """A copy of the shared digits run (its package is changed here); data.json still points to the data."""
    copy = tmp_path / "digits"
    shutil.copytree(digits_run, copy)
    return copy


def test_int8_kept_within_the_gate_and_served(run_copy):
    r = run_cli("export", run_copy, "--quantize", "int8", "--json")
    assert r.returncode == 0, r.stderr
    int8 = json.loads(r.stdout)["int8"]
    assert int8["path"] == str(run_copy / "model" / INT8_FILE) and int8["sha256"] == sha256_file(int8["path"])
    val = int8["val"]
    assert val["metric"] == "accuracy" and val["n"] > 100 and val["fp32"] - val["int8"] <= val["allowed"] + 1e-9
    assert val["allowed"] == max(0.005, 1 / val["n"])  # the gate is no finer than one of its val examples
    assert json.loads((run_copy / "model" / "lamina.json").read_text())["export"]["int8"]["sha256"] == int8["sha256"]
    for batch in ("batch_1", "batch_32"):  # measured on this machine, both graphs (the figures themselves vary by CPU)
        s = int8["speed"][batch]
        assert (
            s["fp32_ms"] > 0
            and s["int8_ms"] > 0
            and s["speedup"] == pytest.approx(s["fp32_ms"] / s["int8_ms"], rel=0.01)
        )
    assert "int8 speed-up on this machine: batch 1" in run_cli("export", run_copy, "--quantize", "int8").stdout

    served = load_served_model(str(run_copy))
    assert served.graph == INT8_FILE
    ops = {node.op_type for node in __import__("onnx").load(int8["path"]).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops  # a real int8 graph, not a copy of fp32
    x = np.random.default_rng(0).integers(0, 17, (16, 8, 8, 1), dtype=np.uint8)
    assert served.run(x).shape == (16, 10)

    r = run_cli("export", run_copy, "--json")  # fp32 again: the int8 graph is no longer recorded, nor served
    assert r.returncode == 0, r.stderr
    meta = json.loads((run_copy / "model" / "lamina.json").read_text())
    assert "int8" not in meta["export"] and INT8_FILE not in meta["files"]
    assert load_served_model(str(run_copy)).graph == "model.onnx"


def test_the_gate_is_never_finer_than_one_val_example():
    assert allowed_drop(0.005, "accuracy", 143) == pytest.approx(1 / 143)  # one flip of 143 passes (0.70 points)
    assert allowed_drop(0.005, "accuracy", 1000) == 0.005  # 5 flips of 1,000 pass, 6 do not
    assert allowed_drop(0.005, "r2", 143) == 0.005  # no examples to count on R2 or micro-F1
    assert allowed_drop(-1.0, "accuracy", 143) == -1.0


def test_a_drop_past_the_gate_is_refused_with_the_figures(run_copy):
    before = (run_copy / "model" / "lamina.json").read_text()
    with pytest.raises(QuantizationRefused, match=r"val accuracy [01]\.\d{4} \(fp32\) -> [01]\.\d{4} \(int8\)"):
        quantize_int8(run_copy, max_drop=-1.0)  # demands int8 be 100 points better: every graph fails it
    assert not (run_copy / "model" / INT8_FILE).exists()
    assert (run_copy / "model" / "lamina.json").read_text() == before


def test_a_package_without_its_run_cannot_be_gated(run_copy, tmp_path):
    alone = tmp_path / "alone"
    shutil.copytree(run_copy / "model", alone)
    with pytest.raises(LaminaError, match="needs the run's val split"):
        quantize_int8(alone)
    assert not (alone / INT8_FILE).exists()
