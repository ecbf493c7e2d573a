import json

import onnxruntime as ort
import pytest

from lamina.exporting.onnx import (
    INPUT_NAME,
    ExportError,
    ServingGraph,
    check_parity,
    export_onnx,
    parity,
    sample_inputs,
)
from lamina.data.task import Task
from lamina.models.package import load_model


def test_training_exports_with_recorded_parity(digits_run):
    meta = json.loads((digits_run / "model" / "lamina.json").read_text())
    export = meta["export"]
    assert (digits_run / "model" / "model.onnx").is_file()
    assert export["input"] == {"name": INPUT_NAME, "dtype": "uint8", "shape": [-1, 8, 8, 1], "layout": "NHWC"}
    assert export["parity"]["argmax_equal"] is True and export["parity"]["max_abs_diff"] <= 1e-4
    assert export["parity"]["n"] > 60  # real val/test images, not only noise


def test_a_package_alone_exports_with_its_own_real_samples(digits_run, tmp_path):
    """The package carries its parity samples: exported far from its run and its data, it checks the same real inputs."""
    import shutil

    import numpy as np

    from lamina.common.package import read_meta

    alone = shutil.copytree(digits_run / "model", tmp_path / "elsewhere" / "model")
    meta = read_meta(alone)
    assert meta["files"]["parity.safetensors"]  # listed with its sha256, like the weights
    samples = sample_inputs(alone, meta)
    assert samples.dtype == np.uint8 and samples.shape[1:] == (8, 8, 1) and len(samples) == 64 + 8  # real, then noise
    assert len({s.tobytes() for s in samples[:64]}) > 50  # distinct digits, not one repeated array
    assert (
        export_onnx(alone)["parity"]["n"]
        == json.loads((digits_run / "model" / "lamina.json").read_text())["export"]["parity"]["n"]
    )
    (alone / "parity.safetensors").write_bytes(b"x" * 10)
    with pytest.raises(Exception, match="sha256 does not match"):
        read_meta(alone)


def test_graph_has_dynamic_batch_and_matches_eager(digits_run):
    session = ort.InferenceSession(str(digits_run / "model" / "model.onnx"))
    model, meta = load_model(digits_run)
    images = sample_inputs(digits_run / "model", meta)
    for n in (1, 3, len(images)):
        check = parity(session, ServingGraph(model, "image", Task.from_meta(meta)).eval(), images[:n])
        assert check["max_abs_diff"] < 1e-5 and check["argmax_equal"]


def test_parity_failure_is_loud(digits_run, tmp_path):
    import torch

    session = ort.InferenceSession(str(digits_run / "model" / "model.onnx"))
    model, meta = load_model(digits_run)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(-1.5)  # the eager model no longer matches the graph
    check = parity(
        session, ServingGraph(model, "image", Task.from_meta(meta)).eval(), sample_inputs(digits_run / "model", meta)
    )
    assert check["max_abs_diff"] > 1e-2
    with pytest.raises(ExportError, match="ONNX parity failed"):
        check_parity(check, digits_run / "model")


def test_cli_export_json_and_serve_needs_an_export(digits_run, tmp_path):
    import shutil

    from helpers import run_cli
    from lamina.common.files import sha256_file

    r = run_cli("export", digits_run, "--format", "onnx", "--json")
    assert r.returncode == 0, r.stderr
    section = json.loads(r.stdout)
    assert section["path"] == str(digits_run / "model" / "model.onnx")
    assert section["sha256"] == sha256_file(section["path"]) and section["parity"]["argmax_equal"]
    bare = tmp_path / "bare"
    shutil.copytree(digits_run / "model", bare)
    (bare / "model.onnx").unlink()
    r = run_cli("serve", bare, "--port", "1")
    assert r.returncode == 2 and "model.onnx: missing from the package" in r.stderr and "lamina export" in r.stderr
    (bare / "model.onnx").write_bytes(b"tampered")
    r = run_cli("serve", bare, "--port", "1")
    assert r.returncode == 2 and "sha256 does not match" in r.stderr
