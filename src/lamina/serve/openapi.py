"""The server's OpenAPI 3.0 document (GET /openapi.json), written out by hand.

It describes what the server accepts and answers, so clients can be generated and a fuzzer
(schemathesis, in tests/serve/test_fuzz.py) can test every route against it. Model names
are an enum of the served models: anything else is a 404 by contract.
"""

from __future__ import annotations

ERROR = {"$ref": "#/components/schemas/Error"}
DATA_RANGE = {"UINT8": (0, 255), "INT16": (-32768, 32767)}  # the values an input datatype holds


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    text = {
        400: "bad request (the message says what)",
        401: "missing or wrong bearer token",
        404: "unknown model",
        403: "Host header not allowed (DNS rebinding guard)",
        408: "body not sent within --body-timeout-s",
        413: "body larger than --max-body-mb, or an upload over --max-image-pixels / --max-audio-seconds",
        415: "unsupported Content-Encoding or file format",
        503: "not ready, draining or busy",
    }
    return {str(c): {"description": text[c], **_json(ERROR)} for c in codes}


def openapi_document(models: dict, version: str, token_required: bool, explain: bool = False) -> dict:
    """The document for ``models`` (name -> ServedModel-like with .v2_inputs, .modality, .datatype, .input_shape and
    .labels); with ``explain``, POST /explain/{name} too (``lamina serve --explain``)."""
    datatypes = {i["datatype"] for m in models.values() for i in m.v2_inputs}  # what the models' inputs take
    name_param = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "enum": sorted(models)}}
    doc = {
        "openapi": "3.0.3",
        "info": {
            "title": "lamina serve",
            "version": version,
            "description": "Open Inference Protocol v2 (KServe) and a simple /predict API for lamina model packages.",
        },
        "paths": {
            **_health_paths(),
            **_model_paths(name_param, _infer_request(models, datatypes)),
            **_predict_path(name_param, "BYTES" in datatypes),
            **(_explain_path(name_param) if explain else {}),
            **_metrics_path(),
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                    "additionalProperties": False,
                }
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}] if token_required else [],
    }
    _versioned(doc["paths"], sorted({getattr(m, "version", "1") for m in models.values()}))
    return doc


def _infer_request(models: dict, datatypes: set[str]) -> dict:
    """The schema of an infer request's body: one input tensor of the models' datatypes (strings among them: texts)."""
    lows, highs = zip(*(DATA_RANGE.get(m.datatype, (None, None)) for m in models.values()))
    numbers = {"type": "number"} if None in lows else {"type": "integer", "minimum": min(lows), "maximum": max(highs)}
    text = "BYTES" in datatypes
    tensor = {
        "type": "object",
        "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 8},
            "datatype": {
                "type": "string",
                "enum": sorted(datatypes),
            },
            "data": {"type": "array", "items": {} if text else numbers},
            "parameters": {"type": "object"},
        },
    }
    infer_request = {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "inputs": {"type": "array", "items": tensor, "minItems": 1, "maxItems": 1},
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string", "enum": ["probabilities", "label", "value"]}},
                },
            },
            "parameters": {"type": "object"},
        },
    }
    return infer_request


def _health_paths() -> dict:
    """Liveness, readiness and server metadata."""
    return {
        "/v2/health/live": {
            "get": {
                "summary": "liveness",
                "security": [],
                "responses": {"200": {"description": "alive", **_json({"type": "object"})}},
            }
        },
        "/v2/health/ready": {
            "get": {
                "summary": "readiness",
                "security": [],
                "responses": {"200": {"description": "ready", **_json({"type": "object"})}, **_errors(503)},
            }
        },
        "/v2": {
            "get": {
                "summary": "server metadata",
                "responses": {"200": {"description": "metadata", **_json({"type": "object"})}, **_errors(401, 403)},
            }
        },
    }


def _model_paths(name_param: dict, infer_request: dict) -> dict:
    """A model's metadata, readiness and inference (Open Inference Protocol v2)."""
    return {
        "/v2/models/{name}": {
            "get": {
                "summary": "model metadata",
                "parameters": [name_param],
                "responses": {
                    "200": {"description": "metadata", **_json({"type": "object"})},
                    **_errors(401, 403, 404),
                },
            }
        },
        "/v2/models/{name}/ready": {
            "get": {
                "summary": "model readiness",
                "parameters": [name_param],
                "responses": {
                    "200": {"description": "ready", **_json({"type": "object"})},
                    **_errors(401, 403, 404, 503),
                },
            }
        },
        "/v2/models/{name}/infer": {
            "post": {
                "summary": "inference: UINT8 images [N, H, W, C] at the model's size; audio models: INT16 samples [N, T]; "
                "text models: BYTES texts [N] or INT64 token ids",
                "parameters": [name_param],
                "requestBody": {"required": True, **_json(infer_request)},
                "responses": {
                    "200": {"description": "probabilities and labels", **_json({"type": "object"})},
                    **_errors(400, 401, 403, 404, 408, 413, 415, 503),
                },
            }
        },
    }


def _explain_path(name_param: dict) -> dict:
    """POST /explain/{name}: one input as the raw body, its occlusion map (lamina.serve.explain_route)."""
    return {
        "/explain/{name}": {
            "post": {
                "summary": "the occlusion map of one input (raw body, as /predict takes it): label, score, method, map",
                "parameters": [name_param],
                "requestBody": {
                    "required": True,
                    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                },
                "responses": {
                    "200": {"description": "the map", **_json({"type": "object"})},
                    **_errors(400, 401, 403, 404, 408, 413, 415, 503),
                },
            }
        }
    }


def _predict_path(name_param: dict, text: bool) -> dict:
    """The simple /predict API: a file (or, for models that read strings, a text) in, the top-k out."""
    return {
        "/predict/{name}": {
            "post": {
                "summary": "top-k labels for an image or audio file, or a UTF-8 text for text models (raw body or multipart field)",
                "parameters": [
                    name_param,
                    {
                        "name": "top_k",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                        **({"text/plain": {"schema": {"type": "string", "minLength": 1}}} if text else {}),
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {"file": {"type": "string", "format": "binary"}},
                            }
                        },
                    },
                },
                "responses": {
                    "200": {"description": "predictions", **_json({"type": "object"})},
                    **_errors(400, 401, 403, 404, 408, 413, 415, 503),
                },
            }
        },
    }


def _metrics_path() -> dict:
    """Prometheus' scrape target."""
    return {
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_errors(401, 403),
                },
            }
        },
    }


def _versioned(paths: dict, versions: list[str]) -> None:
    """The model paths again under /versions/{version}, as metadata advertises the versions (unknown: 404)."""
    version_param = {"name": "version", "in": "path", "required": True, "schema": {"type": "string", "enum": versions}}
    for tail in ("", "/ready", "/infer"):
        operations = paths[f"/v2/models/{{name}}{tail}"]
        paths[f"/v2/models/{{name}}/versions/{{version}}{tail}"] = {
            method: {**op, "parameters": [*op["parameters"], version_param]} for method, op in operations.items()
        }
