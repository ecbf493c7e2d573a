"""`lamina explain MODEL INPUT...`: what each input's answer rests on, by occlusion through ONNX Runtime.

Model-agnostic and torch-free: any package with model.onnx, any modality. Per input, the parts the modality's
occluder hides (lamina.data.occluders) are scored in batches by the exported graph; a part's value is how much
hiding it lowered the model's evidence for the label it gave (the log-odds of its probability; a regression model:
its value). The JSON holds ``input``,
``label``, ``score``, ``method`` ("occlusion") and ``map`` (an image: (H, W) over the region it saw, with ``box``,
that region in the original's pixels; audio: (mel bands, frames); text: [[token, value]]; a table: [[column,
value]]); with an output folder, each input also gets the map drawn over it (PNG, or HTML for texts and rows).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from lamina.explaining.render import draw
from lamina.data.occluders import OCCLUDERS, explanation, lowered_evidence, variants


def explain_inputs(model_path, inputs: list, output: Path | None = None) -> list[dict]:
    """One explanation per input (see the module's docstring); files written under ``output`` when given.

    Raises:
        DataError: an input the model cannot read, named.
    """
    from lamina.serve.predictor import OnnxPredictor

    predictor = OnnxPredictor.load(model_path)
    occluder = OCCLUDERS[predictor.modality]
    out = []
    for n, item in enumerate(inputs, start=1):
        x = predictor.encode([item])
        hidden, parts = variants(occluder, x, predictor.prep, predictor.tokenizer)
        occluded = predictor.scores(hidden) if len(hidden) else hidden
        name = str(item) if isinstance(item, (str, Path)) else type(item).__name__
        record = {"input": name, **explanation(occluder, item, x, predictor.scores(x), occluded, parts, predictor)}
        if output is not None:
            output.mkdir(parents=True, exist_ok=True)
            stem = output / f"{n:03d}-{_safe(name)}"
            drawn = draw(occluder.drawn_as, stem, name, x, record["map"], predictor.prep)
            record["files"] = {"map": str(drawn), "json": str(stem.with_suffix(".json"))}
            stem.with_suffix(".json").write_text(json.dumps(record), encoding="utf-8")
        out.append(record)
    return out


def part_drops(predictor, x: np.ndarray) -> tuple[int, float, list, np.ndarray]:
    """(the output the model answers for ``x``, its score, the parts of ``x``, how much hiding each lowered the
    evidence for it): the figures the sanity checks read (tests/explaining)."""
    base = predictor.scores(x)
    hidden, parts = variants(OCCLUDERS[predictor.modality], x, predictor.prep, predictor.tokenizer)
    target, lowered = lowered_evidence(base, predictor.scores(hidden) if len(hidden) else hidden, predictor.task.kind)
    return target, float(base[0, target]), parts, lowered


def _safe(name: str) -> str:
    """A file name from an input: its last path part, or the start of a text, in safe characters."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name if "/" in name else name)[:40] or "input"
