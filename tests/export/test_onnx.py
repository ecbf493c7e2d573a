import json

import numpy as np
import onnxruntime as ort
import pytest

from lamina.export.onnx import INPUT_NAME, ExportError, ServingGraph, check_parity, parity, sample_images
from lamina.data.image import ImagePreprocess
from lamina.models.package import load_model


def test_training_exports_with_recorded_parity(digits_run):
    meta = json.loads((digits_run / "model" / "lamina.json").read_text())
    export = meta["export"]
    assert (digits_run / "model" / "model.onnx").is_file()
    assert export["input"] == {"name": INPUT_NAME, "dtype": "uint8", "shape": [-1, 8, 8, 1], "layout": "NHWC"}
    assert export["parity"]["argmax_equal"] is True and export["parity"]["max_abs_diff"] <= 1e-4
    assert export["parity"]["n"] > 60  # real val/test images, not only noise


def test_graph_has_dynamic_batch_and_matches_eager(digits_run):
    session = ort.InferenceSession(str(digits_run / "model" / "model.onnx"))
    model, _ = load_model(digits_run)
    images = sample_images(digits_run / "model", ImagePreprocess(8, 1))
    for n in (1, 3, len(images)):
        check = parity(session, ServingGraph(model).eval(), images[:n])
        assert check["max_abs_diff"] < 1e-5 and check["argmax_equal"]


def test_parity_failure_is_loud(digits_run, tmp_path):
    import torch

    session = ort.InferenceSession(str(digits_run / "model" / "model.onnx"))
    model, _ = load_model(digits_run)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(-1.5)  # the eager model no longer matches the graph
    check = parity(session, ServingGraph(model).eval(), sample_images(digits_run / "model", ImagePreprocess(8, 1)))
    assert check["max_abs_diff"] > 1e-2
    with pytest.raises(ExportError, match="ONNX parity failed"):
        check_parity(check, digits_run / "model")
