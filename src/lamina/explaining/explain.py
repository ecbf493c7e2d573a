"""`lamina explain MODEL INPUT... [--method auto|integrated-gradients|grad-cam|occlusion]`: what each input's
answer rests on.

Occlusion is model-agnostic and torch-free: any package with model.onnx, any modality. Per input, the parts the
modality's occluder hides (lamina.data.occluders) are scored in batches by the exported graph; a part's value is
how much hiding it lowered the model's evidence for the label it gave (the log-odds of its probability; a
regression model: its value). Gradient maps (lamina.models.attribution: integrated gradients over pixels, the
log-mel front end's output or token embeddings; Grad-CAM on request for convolutional image networks) need torch
and the package's weights, and take a few dozen backward passes instead of a graph run per part; ``auto`` takes
the method that passed the sanity checks more often on the dev sets (lamina.models.attribution.preferred_method:
integrated gradients for images, occlusion for audio, texts and tables; occlusion without torch).

The JSON holds ``input``, ``label``, ``score``, ``method`` and ``map`` (an image: (H, W) over the region it saw,
with ``box``, that region in the original's pixels; audio: (mel bands, frames); text: [[token, value]]; a table:
[[column, value]]); with an output folder, each input also gets the map drawn over it (PNG, or HTML for texts and
rows).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from lamina.common.errors import ConfigError
from lamina.data.map_drawing import draw
from lamina.data.occluders import OCCLUDERS, explanation, variants


METHODS = ("auto", "integrated-gradients", "grad-cam", "occlusion")


def explain_inputs(model_path, inputs: list, output: Path | None = None, method: str = "auto") -> list[dict]:
    """One explanation per input (see the module's docstring); files written under ``output`` when given.

    Raises:
        DataError: an input the model cannot read, named.
        ConfigError: a gradient ``method`` the network has no map for, or without torch installed.
    """
    from lamina.serve.predictor import OnnxPredictor

    predictor = OnnxPredictor.load(model_path)
    occluder = OCCLUDERS[predictor.modality]
    method = _resolved(method, predictor.modality)
    torch_model = _torch_model(model_path, method)
    out = []
    for n, item in enumerate(inputs, start=1):
        x = predictor.encode([item])
        name = str(item) if isinstance(item, (str, Path)) else type(item).__name__
        if torch_model is None:
            record = {"input": name, **_by_occlusion(occluder, item, x, predictor)}
        else:
            found = _by_gradients(torch_model, x, predictor, method)
            if found is None:
                raise ConfigError(f"{model_path}: no {method} map for {name} with this network; use --method occlusion")
            record = {"input": name, **occluder.extras(item, predictor.prep), **found}
        if output is not None:
            output.mkdir(parents=True, exist_ok=True)
            stem = output / f"{n:03d}-{_safe(name)}"
            drawn = draw(occluder.drawn_as, stem, name, x, record["map"], predictor.prep)
            record["files"] = {"map": str(drawn), "json": str(stem.with_suffix(".json"))}
            stem.with_suffix(".json").write_text(json.dumps(record), encoding="utf-8")
        out.append(record)
    return out


def _by_occlusion(occluder, item, x: np.ndarray, predictor) -> dict:
    hidden, parts = variants(occluder, x, predictor.prep, predictor.tokenizer)
    occluded = predictor.scores(hidden) if len(hidden) else hidden
    return explanation(occluder, item, x, predictor.scores(x), occluded, parts, predictor)


def _by_gradients(torch_model, x: np.ndarray, predictor, method: str) -> dict | None:
    from lamina.models.attribution import gradient_explanation
    from lamina.models.modality import torch_modality

    twin = torch_modality(predictor.prep)
    return gradient_explanation(
        torch_model, twin, twin.stored(x), predictor.task, predictor.labels, predictor.tokenizer, method
    )


def _resolved(method: str, modality: str) -> str:
    """``method``, with ``auto`` made the modality's preferred one (lamina.models.attribution.preferred_method;
    occlusion without torch)."""
    if method not in METHODS:
        raise ConfigError(f"--method {method}: expected one of {', '.join(METHODS)}")
    if method != "auto":
        return method
    try:
        from lamina.models.attribution import preferred_method
    except ImportError:
        return "occlusion"
    return preferred_method(modality)


def _torch_model(model_path, method: str):
    """The package's torch network for a gradient ``method``; None for occlusion."""
    if method == "occlusion":
        return None
    try:
        from lamina.models.package import load_model
    except ImportError:
        raise ConfigError(f"--method {method} needs torch (pip install lamina[train])") from None
    return load_model(model_path)[0]


def _safe(name: str) -> str:
    """A file name from an input: its last path part, or the start of a text, in safe characters."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name if "/" in name else name)[:40] or "input"
