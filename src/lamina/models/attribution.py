"""Gradient maps of a torch network (``lamina explain``, the report's mistakes): what one input's answer rests on,
from a few dozen backward passes (integrated gradients) or one (Grad-CAM).

- Integrated gradients (Sundararajan et al., 2017), from a baseline that means "this part hidden",
  as occlusion and the deletion check hide it: an image's pixels from the picture's mean colour, (H, W) summed
  over the colour channels; a clip's log-mel front end output from the clip's own floor (its quietest value),
  (mel bands, frames) as the network sees them; a text's token embedding (an ``nn.Embedding`` with padding index
  0) from the padding token's embedding, summed per token, (tokens,).
- Grad-CAM (Selvaraju et al., 2017), on request, for convolutional image networks: the last feature map (the
  last module, in the order they finish, whose output has channels and positions: a residual stage's sum after
  its activation, not a shortcut's convolution), each channel weighted by the mean gradient of the answer over
  its positions, the positive part upsampled to the picture: (H, W). A coarse map of where, not of which
  pixels; only where that map keeps at least 7 x 7 positions (a small picture's last map points at nothing).
  Measured against integrated gradients on the deletion check (benchmarks/DEFAULTS.md): it is not the default.

The answer explained is the model's evidence for one label, as occlusion measures it
(lamina.data.occluders.evidence): a class's log-odds against the other classes, a label's logit, a regression's
value. Tables have no gradient map: occlusion explains them (lamina.explaining). ``preferred_method`` says which
method ``auto`` takes per modality, from the sanity checks' figures: integrated gradients for images, occlusion
for audio, texts and tables.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

IG_STEPS = 32  # points on the path from the baseline to the input (midpoint rule)
IG_CHUNK = 8  # path points per forward pass (a photo network's activations x 8 in memory, not x 32)
MIN_POSITIONS = 49  # Grad-CAM's last feature map: at least 7 x 7 positions

GRAD_CAM = "grad-cam"
INTEGRATED_GRADIENTS = "integrated-gradients"
OCCLUSION = "occlusion"  # lamina.data.occluders.METHOD: through the exported graph (lamina.explaining)


def preferred_method(modality: str) -> str:
    """What ``lamina explain --method auto`` and the report explain ``modality`` with: the method that passed the
    deletion check more often on the dev sets (benchmarks/explanations.py: photos 20/22 integrated gradients
    against 15/22 occlusion; speech 22/24 occlusion against 19/24; texts 23/23 against 22/23)."""
    kind = GRADIENTS.get(modality)
    return INTEGRATED_GRADIENTS if kind is not None and kind.preferred else OCCLUSION


def gradient_explanation(
    model: nn.Module, twin, stored: torch.Tensor, task, labels: list[str], tokenizer, wanted: str
) -> dict | None:
    """What ``lamina explain`` answers for one input in its stored form (batch of one), by gradients: ``label`` (the
    answer explained), ``score``, ``method`` and ``map`` ((H, W); (bands, frames); [[token, value]] for a text).
    ``twin`` is the modality's lamina.models.modality object. None where the network has no map ``wanted``."""
    from lamina.models.output import activate

    x = twin.model_input(stored, next(model.parameters()).device.type)
    with torch.no_grad():
        scores = activate(task, model.eval()(x).float())[0].cpu()
    target = int(scores.argmax())
    heat = _map(model, twin.name, x, target, task, wanted)
    if heat is None:
        return None
    return {
        "label": labels[target] if target < len(labels) else str(target),
        "score": float(scores[target]),
        "method": wanted,
        "map": GRADIENTS[twin.name].shown(heat, stored, tokenizer),
    }


def gradient_map(
    model: nn.Module, modality: str, x: torch.Tensor, target: int, task, wanted: str = INTEGRATED_GRADIENTS
) -> np.ndarray:
    """Map ``wanted`` of the evidence for output ``target`` (lamina.data.task.Task ``task``) for one model input
    ``x`` (batch of one, as the modality's model_input makes it): (H, W) for an image, (mel bands, frames) for
    audio, (tokens,) for text ids (padding positions 0).

    Raises:
        ValueError: the network has no such map (a table; Grad-CAM on a coarse map or outside images; a text
            network without a token embedding).
    """
    heat = _map(model, modality, x, target, task, wanted)
    if heat is None:
        raise ValueError(f"{type(model.net).__name__} has no {wanted} map for {modality}")
    return heat


def _map(model: nn.Module, modality: str, x: torch.Tensor, target: int, task, wanted: str) -> np.ndarray | None:
    kind = GRADIENTS.get(modality)
    if kind is None:
        return None
    model.eval()
    answer = lambda out: _evidence(task, out, target)  # noqa: E731
    with torch.enable_grad():
        return kind.grad_cam(model, x, answer) if wanted == GRAD_CAM else kind.integrated(model, x, answer)


class ImageGradients:
    """Pixels from the picture's mean colour, summed over its channels: (H, W). Grad-CAM where the last feature map
    keeps MIN_POSITIONS."""

    preferred = True  # preferred_method

    def integrated(self, model: nn.Module, x: torch.Tensor, answer) -> np.ndarray:
        return _integrated(model, None, x, _mean_colour, answer)[0].sum(0).cpu().numpy()

    def grad_cam(self, model: nn.Module, x: torch.Tensor, answer) -> np.ndarray | None:
        return _grad_cam(model, x, answer)

    def shown(self, heat: np.ndarray, stored: torch.Tensor, tokenizer) -> list:
        return np.round(heat, 5).tolist()


class AudioGradients:
    """The front end's log-mel output from the clip's quietest value: (bands, frames), whichever order the front end
    gives them in (``BANDS_LAST``)."""

    preferred = False  # preferred_method: occlusion hides what the deletion check hides

    def integrated(self, model: nn.Module, x: torch.Tensor, answer) -> np.ndarray:
        ig = _integrated(model, model.frontend, x, lambda out: out.min(), answer)[0].sum(0).cpu()
        return ig.T.numpy() if getattr(model.frontend, "BANDS_LAST", False) else ig.numpy()

    shown = ImageGradients.shown

    def grad_cam(self, model: nn.Module, x: torch.Tensor, answer) -> None:
        return None  # convolutional image networks only


class TextGradients:
    """The token embedding from the padding token's embedding, summed over its width: (tokens,); shown as
    [[token, value]] for the text's own tokens."""

    preferred = False  # preferred_method

    def integrated(self, model: nn.Module, x: torch.Tensor, answer) -> np.ndarray | None:
        embedding = _token_embedding(model.net)
        if embedding is None:
            return None
        padding = embedding.weight[embedding.padding_idx].detach()
        return _integrated(model, embedding, x, lambda out: padding, answer)[0].sum(-1).cpu().numpy()

    def shown(self, heat: np.ndarray, stored: torch.Tensor, tokenizer) -> list:
        from lamina.data.occluders import text_positions, token_text

        ids = stored[0].numpy()
        return [[token_text(tokenizer, int(ids[p])), round(float(heat[p]), 5)] for p in text_positions(ids, tokenizer)]

    grad_cam = AudioGradients.grad_cam


GRADIENTS = {"image": ImageGradients(), "audio": AudioGradients(), "text": TextGradients()}  # tables: occlusion


def _evidence(task, out: torch.Tensor, target: int) -> torch.Tensor:
    """(B,) the evidence for output ``target`` in raw outputs (B, outputs): lamina.data.occluders.evidence in torch."""
    if task.kind == "regression":
        return out[:, target]
    if task.kind != "classification":
        return out[:, target] / task.temperature
    logp = torch.log_softmax(out.float() / task.temperature, dim=1)
    others = torch.cat([logp[:, :target], logp[:, target + 1 :]], dim=1)
    return logp[:, target] - torch.logsumexp(others, dim=1)


def _mean_colour(pixels: torch.Tensor) -> torch.Tensor:
    return pixels.mean(dim=(2, 3), keepdim=True).round()  # (1, C, 1, 1)


def _grad_cam(model: nn.Module, x: torch.Tensor, answer) -> np.ndarray | None:
    """Grad-CAM on the last feature map of one forward pass (the last module of ``model.net``, in the order they
    finish, with a (B, C, h, w) output); None when it has fewer than MIN_POSITIONS positions."""
    maps: list[torch.Tensor] = []

    def note_feature_map(_module, _inputs, out):
        if isinstance(out, torch.Tensor) and out.dim() == 4:
            maps.append(out)

    handles = [m.register_forward_hook(note_feature_map) for m in model.net.modules() if m is not model.net]
    try:
        evidence = answer(model(x.detach().float().requires_grad_(True)))[0]  # every activation on the graph
    finally:
        for h in handles:
            h.remove()
    if not maps or maps[-1].shape[2] * maps[-1].shape[3] < MIN_POSITIONS:
        return None
    acts = maps[-1]
    (grads,) = torch.autograd.grad(evidence, acts)
    cam = torch.relu((grads.mean(dim=(2, 3), keepdim=True) * acts).sum(1, keepdim=True))  # (1, 1, h, w)
    upsampled = nn.functional.interpolate(cam.detach(), size=x.shape[-2:], mode="bilinear", align_corners=False)
    return upsampled[0, 0].cpu().numpy()


def _integrated(model: nn.Module, module: nn.Module | None, x: torch.Tensor, baseline, answer) -> torch.Tensor:
    """(end - baseline(end)) x the mean gradient of the answer along the straight path between them, where ``end``
    is ``module``'s output for ``x`` (None: ``x`` itself); its shape, batch of one."""
    if module is None:
        end = x.float()
    else:
        with torch.no_grad(), _replaced_output(module, lambda out: out) as seen:
            model(x)
        end = seen[0][:1].detach()
    base = baseline(end)
    total = torch.zeros_like(end)
    alphas = (torch.arange(IG_STEPS, dtype=torch.float32, device=end.device) + 0.5) / IG_STEPS
    for chunk in alphas.split(IG_CHUNK):
        path = (base + chunk.view(-1, *([1] * (end.dim() - 1))) * (end - base)).requires_grad_(True)
        if module is None:
            answers = answer(model(path))
        else:
            batch = x.expand(len(chunk), *x.shape[1:])
            with _replaced_output(module, lambda out: path):
                answers = answer(model(batch))
        (grads,) = torch.autograd.grad(answers.sum(), path)
        total += grads.sum(0, keepdim=True)
    return ((end - base) * total / IG_STEPS).detach()


@contextlib.contextmanager
def _replaced_output(module: nn.Module, replace):
    """While open, ``module``'s output is ``replace(output)``; the replacements made are listed in what it yields."""
    made: list[torch.Tensor] = []

    def hook(_module, _inputs, out):
        made.append(replace(out))
        return made[-1]

    handle = module.register_forward_hook(hook)
    try:
        yield made
    finally:
        handle.remove()


def _token_embedding(net: nn.Module) -> nn.Embedding | None:
    return next((m for m in net.modules() if isinstance(m, nn.Embedding) and m.padding_idx == 0), None)
