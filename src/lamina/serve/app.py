"""The HTTP app: Open Inference Protocol v2, /predict, a try-it page, Prometheus metrics.

Built from already-loaded models; knows nothing of torch, training or run directories.
Every error body is {"error": "..."} without stack traces or server paths.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from lamina.common.version import __version__
from lamina.serve.batching import Batcher, Overloaded
from lamina.serve.explain_route import explain_upload
from lamina.serve.guard import BadEncoding, BodyTimeout, BodyTooLarge, Guard
from lamina.serve.metrics import Metrics
from lamina.serve.offload import Busy, Offload, TooSlow
from lamina.serve.openapi import openapi_document
from lamina.serve.page import CSP, render_page
from lamina.serve.binary_tensors import raw_request, response_body, split_binary
from lamina.serve.protocol import (
    binary_parts,
    infer_response,
    input_values,
    output_names,
    parse_input,
    request_id,
    requested_outputs,
    the_inputs,
)
from lamina.serve.runtime import DecodeLimits, InputError, ServedModel

MAX_UPLOADS = 16  # files or text fields in one multipart /predict request
# Inputs this small are parsed and decoded on the event loop: well under a millisecond of
# work, where a hop to the pool and back costs ~5% of req/s (benchmarks/serve_hardening.py).
INLINE_BYTES = 64 * 1024  # a JSON infer body, or an upload
INLINE_PIXELS = 256 * 256  # an image, by its header


@dataclass
class ServeOptions:
    token: str | None = None  # bearer token required on every endpoint but health and the page; None = open
    max_batch_size: int = 32  # samples per inference batch
    max_latency_ms: float = 0.0  # extra wait for a batch to fill, under load only; 0 = take what is waiting
    max_body_mb: float = 10.0  # request bodies over this get 413
    max_queue: int = 256  # waiting requests per model before 503
    limits: DecodeLimits = DecodeLimits()  # pixels and seconds one upload may declare (413 past them)
    decode_workers: int = 2  # threads that parse and decode request bodies, off the event loop
    decode_jobs: int = 16  # requests decoding or waiting to decode at once; more get 503
    decode_budget_s: float = 10.0  # one request's parsing and decoding, seconds; past it 503
    allowed_hosts: tuple[str, ...] | None = (
        None  # Host header names accepted (None = any); loopback names when bound to loopback
    )
    body_timeout_s: float = 30.0  # the whole request body must arrive within this; else 408
    explain: bool = False  # POST /explain/{name}: occlusion maps (lamina.serve.explain_route)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 2**20)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class App:
    """Routes over a fixed set of models."""

    def __init__(self, models: list[ServedModel], options: ServeOptions):
        self.models = {m.name: m for m in models}
        if len(self.models) != len(models):
            raise ValueError("two served models have the same name; use NAME=PATH to tell them apart")
        self.options = options
        self.ready = False
        self.metrics = Metrics(list(self.models))
        self.offload = Offload(options.decode_workers, options.decode_jobs, options.decode_budget_s)
        self.batchers = {
            m.name: Batcher(
                m.run,
                options.max_batch_size,
                options.max_latency_ms,
                options.max_queue,
                on_batch=self.metrics.batch_size.labels(m.name).observe,
                on_wait=self.metrics.stage(m.name, "queue").observe,
                on_predict=self.metrics.stage(m.name, "predict").observe,
            )
            for m in models
        }
        # the stages timed here; the queue and predict stages are timed by the batcher
        self.timers = {
            m.name: {s: self.metrics.stage(m.name, s) for s in ("preprocess", "postprocess")} for m in models
        }

    def _label(self, request: Request, endpoint: str) -> ServedModel | None:
        """The model a request names (and, on a versioned path, the version it serves), else None."""
        name = request.path_params.get("name")
        model = self.models.get(name) if isinstance(name, str) else None
        request.scope["lamina.labels"] = (self.metrics.model_label(name), endpoint)
        version = request.path_params.get("version")
        return None if model is None or (version is not None and version != model.version) else model

    def _unknown(self, request: Request) -> JSONResponse:
        name, version = request.path_params.get("name"), request.path_params.get("version")
        if version is not None and name in self.models:
            served = self.models[name].version
            return error(404, f"unknown version {str(version)[:32]!r} of model {name!r}; it serves version {served!r}")
        return error(404, f"unknown model {str(name)[:64]!r}")

    async def _probabilities(self, model: ServedModel, batch: np.ndarray) -> np.ndarray:
        return await self.batchers[model.name].submit(batch)

    # --- Open Inference Protocol v2 -------------------------------------------------------
    async def live(self, request: Request):
        request.scope["lamina.labels"] = ("_none", "health")
        return JSONResponse({"live": True})

    async def ready_endpoint(self, request: Request):
        request.scope["lamina.labels"] = ("_none", "health")
        return JSONResponse({"ready": self.ready}, status_code=200 if self.ready else 503)

    async def server_metadata(self, request: Request):
        request.scope["lamina.labels"] = ("_none", "server")
        return JSONResponse({"name": "lamina", "version": __version__, "extensions": ["binary_tensor_data"]})

    async def model_metadata(self, request: Request):
        model = self._label(request, "metadata")
        if model is None:
            return self._unknown(request)
        return JSONResponse(
            {
                "name": model.name,
                "versions": [model.version],
                "platform": "onnxruntime_onnx",
                "inputs": model.advertised_inputs,  # what a client should build (the graph's tensor is also taken)
                "outputs": [
                    {"name": name, "datatype": "BYTES", "shape": [-1]}
                    if name == "label"
                    else {"name": name, "datatype": "FP32", "shape": [-1, model.task.outputs]}
                    for name in output_names(model.task)
                ],
                "parameters": {
                    "modality": model.meta["modality"],
                    "labels": model.labels,
                    "task": model.task.to_dict(),
                    "form": model.prep.page_form(),  # what lamina's try-it page asks for
                },
            }
        )

    async def model_ready(self, request: Request):
        model = self._label(request, "ready")
        if model is None:
            return self._unknown(request)
        return JSONResponse({"name": model.name, "ready": self.ready}, status_code=200 if self.ready else 503)

    async def infer(self, request: Request):
        model = self._label(request, "infer")
        if model is None:
            return self._unknown(request)
        if self.batchers[model.name].full():
            raise Overloaded()  # before reading and parsing the body: refusals stay cheap under a flood
        body = await request.body()
        timers, start = self.timers[model.name], time.perf_counter()
        args = (model, body, request.headers.get("inference-header-content-length"))
        inline = len(body) <= INLINE_BYTES and not model.prep.encoded_once  # files in rows: decoded off the loop
        batch, names, rid = _parse_infer(*args) if inline else await self.offload.run(_parse_infer, *args)
        timers["preprocess"].observe(time.perf_counter() - start)
        probs = await self._probabilities(model, batch)
        start = time.perf_counter()
        head, tail = infer_response(model.name, rid, probs, model.task, names, model.version)
        if not tail:
            response = JSONResponse(head)
        else:
            content, headers = response_body(head, tail)
            response = Response(content, media_type="application/octet-stream", headers=headers)
        timers["postprocess"].observe(time.perf_counter() - start)
        return response

    # --- Simple API ----------------------------------------------------------------------
    async def predict(self, request: Request):
        model = self._label(request, "predict")
        if model is None:
            return self._unknown(request)
        if self.batchers[model.name].full():
            raise Overloaded()  # before reading and decoding the upload
        try:
            k = int(request.query_params.get("top_k", 5))
        except ValueError:
            return error(400, "top_k must be an integer")
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            form = await request.form(max_files=MAX_UPLOADS, max_fields=MAX_UPLOADS)
            files = [v for _, v in form.multi_items() if hasattr(v, "read")]
            texts = model.prep.string_fields([v for _, v in form.multi_items() if isinstance(v, str)])
            if not files and not texts:
                return error(400, f"multipart body has no {model.prep.upload_fields}")
            blobs = [await f.read() for f in files] + texts
        else:
            blobs = model.prep.uploads(await request.body())
        if not all(blobs):
            return error(400, f"empty body: send {model.prep.upload_noun} (raw body or multipart field)")
        timers, start = self.timers[model.name], time.perf_counter()
        args = (model, blobs, self.options.limits)
        batch = _decode_files(*args) if _small(model, blobs) else await self.offload.run(_decode_files, *args)
        timers["preprocess"].observe(time.perf_counter() - start)
        probs = await self._probabilities(model, batch)
        start = time.perf_counter()
        response = JSONResponse({"model": model.name, "predictions": model.task.answer(probs, k)})
        timers["postprocess"].observe(time.perf_counter() - start)
        return response

    # --- Page and metrics ----------------------------------------------------------------
    async def page(self, request: Request):
        request.scope["lamina.labels"] = ("_none", "page")
        return HTMLResponse(
            render_page(list(self.models.values()), token_required=self.options.token is not None),
            headers={"content-security-policy": CSP, "x-frame-options": "DENY", "referrer-policy": "no-referrer"},
        )

    async def openapi(self, request: Request):
        request.scope["lamina.labels"] = ("_none", "openapi")
        doc = openapi_document(self.models, __version__, self.options.token is not None, self.options.explain)
        return JSONResponse(doc)

    async def metrics_endpoint(self, request: Request):
        request.scope["lamina.labels"] = ("_none", "metrics")
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # --- Lifecycle -----------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        for b in self.batchers.values():
            b.start()
        self.ready = True
        try:
            yield
        finally:
            self.ready = False
            for b in self.batchers.values():
                await b.stop()
            self.offload.shutdown()


def _parse_infer(
    model: ServedModel, body: bytes, header_length: str | None
) -> tuple[np.ndarray, list[tuple[str, bool]], str | None]:
    """An infer request body -> (checked input batch, requested (output, binary) pairs, request id). Runs off the
    event loop."""
    doc, tail = split_binary(body, header_length)
    if doc is None:
        doc, tail = raw_request(tail, model.v2_inputs[0 if len(model.advertised_inputs) == 1 else -1])
    rid = request_id(doc)
    outputs = requested_outputs(doc, output_names(model.task))
    specs = the_inputs(doc, model.name, [i["name"] for i in model.v2_inputs], len(model.advertised_inputs))
    parts, graph = binary_parts(specs, tail), model.meta["export"]["input"]["name"]
    if len(specs) == 1 and specs[0]["name"] == graph:
        batch = parse_input(specs[0], parts[0], model.input_shape, model.datatype)
    elif any(s["name"] == graph for s in specs):
        raise InputError(f"send the input '{graph}' alone, or the others without it")
    else:  # the modality's own inputs (texts; a table's columns), which it turns into the graph's tensor
        datatypes = {i["name"]: i["datatype"] for i in model.v2_inputs}
        named = {s["name"]: input_values(s, part, datatypes[s["name"]]) for s, part in zip(specs, parts)}
        batch = model.from_named_inputs(named)
    return model.check_batch(batch), outputs, rid


def _small(model: ServedModel, blobs: list[bytes]) -> bool:
    """Whether decoding ``blobs`` is cheap enough for the event loop (the modality decides: small images and texts; audio never)."""
    return model.prep.cheap_to_decode(blobs, INLINE_BYTES, INLINE_PIXELS)


def _decode_files(model: ServedModel, blobs: list[bytes], limits: DecodeLimits) -> np.ndarray:
    """Uploaded files -> one checked input batch. Runs off the event loop."""
    return model.check_batch(np.stack([model.decode_file(b, limits) for b in blobs]))


def _explain_routes(core: App, options: ServeOptions) -> list[Route]:
    """POST /explain/{name}, when the server was started with --explain (lamina.serve.explain_route)."""
    if not options.explain:
        return []

    async def explain(request: Request):
        return await explain_upload(core, request, _decode_files)

    return [Route("/explain/{name}", explain, methods=["POST"])]


def build_app(models: list[ServedModel], options: ServeOptions | None = None):
    """The ASGI app serving ``models``; ``app.state.lamina`` is the App (for readiness on shutdown)."""
    options = options or ServeOptions()
    core = App(models, options)

    async def input_error(request: Request, exc: InputError):
        return error(exc.status, str(exc))

    async def busy(request: Request, exc: Busy):
        return error(503, "server is busy decoding other requests; retry later")

    async def too_slow(request: Request, exc: TooSlow):
        return error(503, f"decoding took longer than {options.decode_budget_s:g} s")

    async def body_timeout(request: Request, exc: BodyTimeout):
        return error(408, f"request body did not arrive within {options.body_timeout_s:g} s")

    async def too_large(request: Request, exc: BodyTooLarge):
        return error(413, f"body larger than {options.max_body_bytes} bytes")

    async def bad_encoding(request: Request, exc: BadEncoding):
        return error(400, "compressed body is corrupt or truncated")

    async def overloaded(request: Request, exc: Overloaded):
        return error(503, "server is busy (queue full); retry later")

    async def not_found(request: Request, exc):
        status = getattr(exc, "status_code", 404)
        response = error(status, {404: "not found", 405: "method not allowed"}.get(status, "request failed"))
        response.headers.update(getattr(exc, "headers", None) or {})  # 405's Allow (RFC 9110)
        return response

    async def http_error(
        request: Request, exc: HTTPException
    ):  # e.g. a malformed multipart body from Starlette's parser
        status = exc.status_code if 400 <= exc.status_code < 500 else 400
        return error(status, f"bad request: {str(exc.detail)[:200]}" if exc.detail else "bad request")

    async def internal(request: Request, exc: Exception):
        return error(500, "internal error")

    routes = [  # matched in order: the inference routes first, since nearly every request is one
        Route("/predict/{name}", core.predict, methods=["POST"]),
        Route("/v2/models/{name}/infer", core.infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", core.infer, methods=["POST"]),
        Route("/", core.page, methods=["GET"]),
        Route("/metrics", core.metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", core.openapi, methods=["GET"]),
        Route("/v2", core.server_metadata, methods=["GET"]),
        Route("/v2/", core.server_metadata, methods=["GET"]),  # as the protocol's own YAML writes it
        Route("/v2/health/live", core.live, methods=["GET"]),
        Route("/v2/health/ready", core.ready_endpoint, methods=["GET"]),
        Route("/v2/models/{name}", core.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", core.model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}", core.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", core.model_ready, methods=["GET"]),
    ] + _explain_routes(core, options)
    app = Starlette(
        routes=routes,
        exception_handlers={
            InputError: input_error,
            Busy: busy,
            TooSlow: too_slow,
            BodyTimeout: body_timeout,
            BodyTooLarge: too_large,
            BadEncoding: bad_encoding,
            Overloaded: overloaded,
            404: not_found,
            405: not_found,
            HTTPException: http_error,
            Exception: internal,
        },
        lifespan=core.lifespan,
    )
    app.state.lamina = core
    guarded = Guard(app, options.token, options.max_body_bytes, options.allowed_hosts, options.body_timeout_s)
    outer = core.metrics.middleware(guarded)
    outer.state = app.state  # type: ignore[attr-defined]
    return outer
