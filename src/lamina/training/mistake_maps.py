"""The report's maps beside its mistakes: for each sample the report shows as a confident mistake, what the answer
the model gave rests on, by the method ``lamina explain`` takes for the modality
(lamina.models.attribution.preferred_method: integrated gradients for pictures; occlusion for clips, texts and
table rows, scored here by the torch network, not the exported graph), drawn small over the input
(lamina.data.map_drawing.map_preview).

Within a time budget: maps are drawn in the gallery's order until BUDGET_S has passed (a photo network takes a
second or two per map on a laptop CPU; 24 of them would double a short run).
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import torch

BUDGET_S = 15.0  # seconds of maps per report
OCCLUSION_BATCH = 64  # occluded copies scored per forward pass


def mistake_maps(model, prep, task, labels: list[str], tokenizer, split, root: str | None) -> Callable[[int], str]:
    """``maps(i)``: HTML of the map of sample ``i`` of ``split`` (its stored form, or its features' source), or ""
    where there is none or the budget is spent. ``model`` is the FullNetwork; ``root`` the data's folder (a split
    of cached features is read back from its files there)."""
    from lamina.data.map_drawing import map_preview
    from lamina.data.occluders import OCCLUDERS
    from lamina.models.attribution import OCCLUSION, gradient_explanation, preferred_method
    from lamina.models.modality import torch_modality

    twin, occluder, method = torch_modality(prep), OCCLUDERS[prep.name], preferred_method(prep.name)
    served = SimpleNamespace(labels=labels, task=task, prep=prep, tokenizer=tokenizer)
    deadline = time.monotonic() + BUDGET_S

    def maps(i: int) -> str:
        stored = _stored(split, i, prep, twin, tokenizer, root)
        if stored is None or time.monotonic() > deadline:
            return ""
        if method == OCCLUSION:
            found = _occlusion(model.eval(), twin, occluder, twin.served(stored), served)
        else:
            found = gradient_explanation(model, twin, stored, task, labels, tokenizer, method)
        return map_preview(occluder.drawn_as, twin.served(stored), found["map"], prep) if found else ""

    return maps


def _occlusion(model, twin, occluder, x: np.ndarray, served) -> dict:
    """lamina explain's occlusion record for graph input ``x``, its copies scored by the torch network."""
    from lamina.data.occluders import explanation, variants
    from lamina.models.package import stored_scores

    device = next(model.parameters()).device.type

    def scores(graph_inputs: np.ndarray) -> np.ndarray:
        return stored_scores(model, twin, served.task, twin.stored(graph_inputs), device, OCCLUSION_BATCH).numpy()

    hidden, parts = variants(occluder, x, served.prep, served.tokenizer)
    return explanation(occluder, None, x, scores(x), scores(hidden) if len(hidden) else hidden, parts, served)


def _stored(split, i: int, prep, twin, tokenizer, root: str | None) -> torch.Tensor | None:
    """Sample ``i`` in its stored form (batch of one): from the split, or, for a split of frozen features, read
    again from its text or its file."""
    if split.form == prep.name:
        return torch.as_tensor(split.x[i])[None]
    if split.texts is not None:  # a text's frozen features: the text again
        return twin.stored(prep.inputs([split.texts[i]], tokenizer))
    if root is not None and (Path(root) / split.keys[i]).is_file():
        return twin.stored(prep.inputs([str(Path(root) / split.keys[i])]))
    return None
