"""POST /explain/{name} (``lamina serve --explain``): the occlusion map of one upload, under inference's limits.

The upload is decoded as /predict decodes it (body size, pixels and seconds, the decode pool); the copies with one
part hidden (lamina.data.occluders) are made on the same pool, under its job cap and time budget; every graph run
goes through the model's batcher, so its queue limit holds (a full queue is 503). Off unless the server was started
with --explain: one map costs tens to hundreds of graph runs. The answer has the fields of ``lamina explain``'s
JSON (label, score, method, map, an image's box) and the model's name.
"""

from __future__ import annotations

import numpy as np
from starlette.responses import JSONResponse

from lamina.data.occluders import OCCLUDERS, explanation, variants
from lamina.serve.batching import Overloaded


async def explain_upload(core, request, decode) -> JSONResponse:
    """The map of the one input in ``request``'s body; ``decode(model, blobs, limits)`` is /predict's decoding."""
    model = core._label(request, "explain")
    if model is None:
        return core._unknown(request)
    if core.batchers[model.name].full():
        raise Overloaded()
    blobs = model.prep.uploads(await request.body())
    if len(blobs) != 1 or not blobs[0]:
        return JSONResponse({"error": f"send one input to explain: {model.prep.upload_noun} as the body"}, 400)
    x = await core.offload.run(decode, model, blobs, core.options.limits)
    occluder = OCCLUDERS[model.modality]
    hidden, parts = await core.offload.run(variants, occluder, x, model.prep, model.tokenizer)
    base = await core._probabilities(model, x)
    step = core.options.max_batch_size
    scores = [await core._probabilities(model, hidden[i : i + step]) for i in range(0, len(hidden), step)]
    occluded = np.concatenate(scores) if scores else hidden
    return JSONResponse({"model": model.name, **explanation(occluder, blobs[0], x, base, occluded, parts, model)})
