"""The two sanity checks of attribution maps, for any package and method (tests/explaining, benchmarks/explanations.py):

- model randomisation (Adebayo et al., 2018): the maps of the trained network and of the same network with its
  weights drawn afresh rank an input's parts alike only by chance: their Spearman correlation, averaged over
  the inputs, is reported (below 0.5 passes);
- deletion: hiding the most important fifth of an input (pixels to the picture's mean colour, tokens to padding,
  tiles of the clip's spectrum to silence: lamina.data.occluders) lowers the model's evidence for its answer
  more than hiding a random fifth; counted over the inputs it answers right (at least 80% passes).

The parts a map is judged on are the occluder's (``judged_parts``, ``map_parts``): an image's pixels (its occlusion
patches overlap: a fifth of them covers less than a fifth of the picture); a clip's occlusion tiles (a gradient map
summed over each tile's bands and frames); a text's tokens.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np

from lamina.data.occluders import OCCLUDERS, evidence, lowered_evidence, variants

FIFTH = 0.2


def sanity_figures(package: Path, samples: list[tuple], method: str, scratch: Path, seed: int = 0) -> dict:
    """{"correlation", "deletion_wins", "answered", "inputs"} of ``method`` ("occlusion" or a gradient method of
    lamina.models.attribution) on ``samples`` [(input, its true label)]; ``scratch`` holds a randomised copy."""
    from lamina.serve.predictor import OnnxPredictor

    predictor = OnnxPredictor.load(package)
    if method == "occlusion":
        trained = random = None
        random_graph = OnnxPredictor.load(randomised_graph(Path(package) / "model", scratch / "random", seed))
    else:
        from lamina.models.package import load_model

        trained = load_model(package)[0]
        random, random_graph = randomised_network(trained, seed), None
    rng = np.random.default_rng(seed)
    correlations, wins, answered = [], 0, 0
    for item, truth in samples:
        x = predictor.encode([item])
        target = int(np.argmax(predictor.scores(x)[0]))
        units, values = _units(predictor, trained, x, target, method)
        again = _units(random_graph or predictor, random, x, target, method)[1]
        correlations.append(rank_correlation(values, again))
        if predictor.labels[target] != truth:
            continue
        answered += 1
        wins += deletion_wins(predictor, x, target, units, values, rng)
    return {
        "correlation": float(np.mean(correlations)),
        "deletion_wins": wins,
        "answered": answered,
        "inputs": len(samples),
    }


def deletion_wins(predictor, x: np.ndarray, target: int, units: list, values: np.ndarray, rng) -> bool:
    """Whether hiding the top fifth of ``units`` by ``values`` lowers the evidence for ``target`` more than hiding
    a random fifth."""
    occluder, kind = OCCLUDERS[predictor.modality], predictor.task.kind
    fifth = max(1, round(FIFTH * len(units)))
    top = [units[i] for i in np.argsort(-values, kind="stable")[:fifth]]
    chance = [units[i] for i in rng.choice(len(units), fifth, replace=False)]
    after_top = evidence(predictor.scores(occluder.hide(x, top, predictor.prep)), target, kind)[0]
    after_chance = evidence(predictor.scores(occluder.hide(x, chance, predictor.prep)), target, kind)[0]
    return bool(after_top < after_chance)


def _units(predictor, model, x: np.ndarray, target: int, method: str) -> tuple[list, np.ndarray]:
    """(the parts deletion removes a fifth of, each one's value in the map of ``x``'s answer ``target``): the map
    by occlusion through ``predictor``'s graph, or by gradients of the torch ``model``."""
    if method == "occlusion":
        return _occlusion_units(predictor, x, target)
    return _gradient_units(predictor, model, x, target, method)


def _occlusion_units(predictor, x: np.ndarray, target: int) -> tuple[list, np.ndarray]:
    occluder = OCCLUDERS[predictor.modality]
    hidden, parts = variants(occluder, x, predictor.prep, predictor.tokenizer)
    occluded = predictor.scores(hidden) if len(hidden) else hidden
    _, drops = lowered_evidence(predictor.scores(x), occluded, predictor.task.kind, target)
    return occluder.judged_parts(drops, parts, x, predictor.prep)


def _gradient_units(predictor, model, x: np.ndarray, target: int, method: str) -> tuple[list, np.ndarray]:
    from lamina.models.attribution import gradient_map
    from lamina.models.modality import torch_modality

    twin = torch_modality(predictor.prep)
    heat = gradient_map(
        model, predictor.modality, twin.model_input(twin.stored(x), "cpu"), target, predictor.task, method
    )
    return OCCLUDERS[predictor.modality].map_parts(heat, x, predictor.prep, predictor.tokenizer)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's correlation of two maps (0 where either is constant)."""
    from scipy.stats import spearmanr

    a, b = np.nan_to_num(a, posinf=1e9, neginf=-1e9), np.nan_to_num(b, posinf=1e9, neginf=-1e9)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def randomised_network(model, seed: int = 0):
    """A copy of a torch network with its weights (float parameters of rank >= 2) drawn afresh (He)."""
    import torch

    fresh = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in fresh.parameters():
            if p.dim() >= 2:
                fan_in = int(np.prod(p.shape[1:]))
                p.copy_(torch.randn(p.shape, generator=generator) * np.sqrt(2.0 / fan_in))
    return fresh


def randomised_graph(package: Path, where: Path, seed: int = 0) -> Path:
    """A copy of ``package`` whose graph's weights (float initializers of rank >= 2) are drawn afresh (He), its
    digests updated so it loads."""
    import onnx
    from onnx import numpy_helper

    from lamina.common.files import sha256_file

    copied = Path(shutil.copytree(package, where))
    model = onnx.load(str(copied / "model.onnx"))
    rng = np.random.default_rng(seed)
    for init in model.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype == np.float32 and w.ndim >= 2:
            fan_in = int(np.prod(w.shape[1:]))
            fresh = rng.normal(0, np.sqrt(2.0 / fan_in), w.shape).astype(np.float32)
            init.CopyFrom(numpy_helper.from_array(fresh, init.name))
    onnx.save(model, str(copied / "model.onnx"))
    meta = json.loads((copied / "lamina.json").read_text())
    meta["export"]["sha256"] = meta["files"]["model.onnx"] = sha256_file(copied / "model.onnx")
    (copied / "lamina.json").write_text(json.dumps(meta))
    return copied
