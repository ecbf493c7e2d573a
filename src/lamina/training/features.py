"""A frozen encoder's features: computed once per sample instead of once per epoch, and for images kept in
lamina's cache, so a later run (a tuning trial, a retrain) with the same backbone encodes nothing again."""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from lamina.common.runtime import cache_dir
from lamina.data.batches import eval_batches
from lamina.data.cache import feature_cache
from lamina.data.prepared import SplitData
from lamina.models.modality import feed, torch_modality
from lamina.models.network import FullNetwork
from lamina.training.engine import autocast


def feature_key(model: FullNetwork, preprocessing: str, precision: str) -> str:
    """Names a frozen backbone's features: its weights (a digest of every tensor but the head's), the modality's
    ``preprocessing`` (lamina.models.modality: ``cached_features``) and the precision they were computed in."""
    h = hashlib.blake2b(digest_size=8)
    for name, t in model.encoder_state().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return f"{model.net.__class__.__name__}-{h.hexdigest()}-{preprocessing}-{precision}"


def cache_key(model: FullNetwork, prep, use_cache: bool, precision: str) -> str | None:
    """The name ``model``'s features go by in lamina's cache for data prepared as ``prep``; None where they are not
    kept there (``data.cache`` off, or a modality whose features are not worth keeping: lamina.models.modality)."""
    kept = torch_modality(prep).cached_features(prep) if use_cache else None
    return feature_key(model, kept, precision) if kept else None


@torch.no_grad()
def frozen_features(
    model: FullNetwork, split: SplitData, device: str, precision: str, batch_size: int, cache_key: str | None = None
) -> SplitData:
    """The split as its frozen encoder's features (N, D), in the network's ``feature_dtype`` (float32; float16 for
    large feature maps): a frozen encoder runs once per sample, not once per epoch.

    With ``cache_key`` (images with content hashes), features are kept in lamina's cache and an image
    the same backbone saw before, at the same preprocessing and precision, is not encoded again.
    """
    model.eval()
    width, dtype = model.feature_width, model.feature_dtype
    kept = torch.empty(0, dtype=dtype).numpy().dtype
    cache = feature_cache(cache_dir(), cache_key, width, kept) if cache_key and split.hashes is not None else None
    known = cache.lookup(split.hashes) if cache is not None else {}
    todo = torch.tensor(
        [i for i in range(len(split)) if cache is None or split.hashes[i] not in known], dtype=torch.int64
    )
    feats = torch.empty((len(split), width), dtype=dtype)
    fed = feed(split)
    lengths = fed.lengths(split.x)
    for part in eval_batches(len(todo), batch_size, lengths[todo] if lengths is not None else None):
        idx = todo[part]
        with autocast(device, precision):
            feats[idx] = model.encode(fed.model_input(split.x[idx], device)).to(dtype).cpu()
    if known:
        hits = torch.tensor([i for i, h in enumerate(split.hashes) if h in known], dtype=torch.int64)
        feats[hits] = torch.from_numpy(
            cache.read(np.array([known[split.hashes[i]] for i in hits.tolist()], dtype=np.int64))
        )
    if cache is not None and len(todo):
        cache.add({split.hashes[i]: feats[i].numpy() for i in todo.tolist()})
    return SplitData(feats, split.y, split.keys, "features", split.texts)
