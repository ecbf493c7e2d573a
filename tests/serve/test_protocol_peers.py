"""The Open Inference Protocol as its peers speak it: tritonclient at its defaults, versioned paths, the binary tensor
extension's outputs (per-output flags over the request-wide one, BYTES in binary, sizes), raw binary requests,
input names, ids, Allow on 405 — the cases of Triton's qa/L0_http and KServe's test_server.py v2 tests, written
here against the real server on 127.0.0.1."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from lamina.data.image import ImagePreprocess, load_image


@pytest.fixture(scope="module")
def sample(digits, digits_run):
    """(four digit images (4, 8, 8, 1) uint8, what lamina.load predicts for them)."""
    import lamina

    files = sorted((digits / "test").rglob("*.png"))[::97][:4]
    expected = lamina.load(digits_run).predict([str(f) for f in files], top_k=10)
    return np.stack([load_image(f, ImagePreprocess(8, 1)) for f in files]), expected


def _probabilities(expected) -> np.ndarray:
    return np.array([[{t["label"]: t["score"] for t in e["top_k"]}[str(k)] for k in range(10)] for e in expected])


def _split(r: httpx.Response) -> tuple[dict, bytes]:
    n = int(r.headers["inference-header-content-length"])
    return json.loads(r.content[:n]), r.content[n:]


def _bytes_elements(data: bytes) -> list[str]:
    out, pos = [], 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "little")
        out.append(data[pos + 4 : pos + 4 + size].decode())
        pos += 4 + size
    return out


def _body(images, **extra) -> dict:
    spec = {"name": "images", "shape": list(images.shape), "datatype": "UINT8", "data": images.ravel().tolist()}
    return {"inputs": [spec], **extra}


def test_tritonclient_at_its_defaults_with_the_advertised_version(server, sample):
    import tritonclient.http as tc

    images, expected = sample
    client = tc.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    meta = client.get_model_metadata("digits")
    version = meta["versions"][0]
    assert client.is_model_ready("digits", version) and not client.is_model_ready("digits", "2")
    assert client.get_model_metadata("digits", version)["name"] == "digits"
    inp = tc.InferInput(meta["inputs"][0]["name"], list(images.shape), meta["inputs"][0]["datatype"])
    inp.set_data_from_numpy(images)  # binary input, binary outputs: tritonclient's defaults
    for v in ("", version):
        result = client.infer("digits", [inp], model_version=v)
        assert result.get_response()["model_version"] == version
        assert np.allclose(result.as_numpy("probabilities"), _probabilities(expected), atol=1e-4)
        assert [x.decode() for x in result.as_numpy("label")] == [e["label"] for e in expected]
    # each output asked for, binary by default
    outs = [tc.InferRequestedOutput("label"), tc.InferRequestedOutput("probabilities", binary_data=False)]
    result = client.infer("digits", [inp], outputs=outs, request_id="r-1")
    assert result.get_response()["id"] == "r-1" and result.get_output("probabilities")["data"]
    assert "binary_data_size" in result.get_output("label")["parameters"]
    with pytest.raises(tc.InferenceServerException, match="unknown version '2'"):
        client.infer("digits", [inp], model_version="2")


def test_per_output_flags_override_the_request_wide_one(server, sample):
    images, expected = sample
    body = _body(
        images,
        id="7",
        parameters={"binary_data_output": True},
        outputs=[{"name": "probabilities"}, {"name": "label", "parameters": {"binary_data": False}}],
    )
    r = httpx.post(f"{server.url}/v2/models/digits/infer", json=body)
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    head, tail = _split(r)
    probs, label = head["outputs"]
    assert head["id"] == "7" and probs["parameters"]["binary_data_size"] == 4 * 4 * 10 == len(tail)
    assert "data" not in probs and label["data"] == [e["label"] for e in expected]
    got = np.frombuffer(tail, "<f4").reshape(probs["shape"])
    assert np.allclose(got, _probabilities(expected), atol=1e-4)
    # BYTES in binary, FP32 as JSON: the tail is length-prefixed labels, in the order the outputs are listed
    body = _body(images, outputs=[{"name": "probabilities"}, {"name": "label", "parameters": {"binary_data": True}}])
    head, tail = _split(httpx.post(f"{server.url}/v2/models/digits/infer", json=body))
    assert head["outputs"][1]["parameters"]["binary_data_size"] == len(tail)
    assert _bytes_elements(tail) == [e["label"] for e in expected] and len(head["outputs"][0]["data"]) == 40
    # no binary output: plain JSON, no header
    r = httpx.post(f"{server.url}/v2/models/digits/infer", json=_body(images, outputs=[]))
    assert "inference-header-content-length" not in r.headers
    assert [o["name"] for o in r.json()["outputs"]] == ["probabilities", "label"]  # outputs: [] means all (Triton)


def test_raw_binary_request_is_one_sample_with_binary_outputs(server, sample):
    images, expected = sample
    url = f"{server.url}/v2/models/digits/versions/1/infer"
    r = httpx.post(url, content=images[0].tobytes(), headers={"Inference-Header-Content-Length": "0"})
    assert r.status_code == 200, r.text
    head, tail = _split(r)
    sizes = [o["parameters"]["binary_data_size"] for o in head["outputs"]]
    assert sizes[0] == 40 and sum(sizes) == len(tail)
    assert _bytes_elements(tail[40:]) == [expected[0]["label"]]
    r = httpx.post(url, content=images[:2].tobytes(), headers={"Inference-Header-Content-Length": "0"})
    assert r.status_code == 400 and "must be the 64 bytes of one UINT8 input 'images'" in r.json()["error"]


@pytest.mark.parametrize(
    "change, status, message",
    [
        ({"name": "NOT_AN_INPUT"}, 400, "unexpected inference input 'NOT_AN_INPUT' for model 'digits'"),
        ({"id": 42}, 400, "'id' must be a string"),
        ({"parameters": {"binary_data_output": "yes"}}, 400, "'binary_data_output' must be true or false"),
        ({"outputs": [{"name": "label", "parameters": {"binary_data": 1}}]}, 400, "'binary_data' must be true or"),
    ],
)
def test_what_triton_refuses_is_refused(server, sample, change, status, message):
    body = _body(sample[0][:1])
    if "name" in change:
        body["inputs"][0]["name"] = change["name"]
    else:
        body.update(change)
    r = httpx.post(f"{server.url}/v2/models/digits/infer", json=body)
    assert r.status_code == status and message in r.json()["error"], r.text


def test_versioned_paths_slash_and_allow(server):
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/v2/models/digits/versions/1").json()["versions"] == ["1"]
        assert http.get("/v2/models/digits/versions/1/ready").json()["ready"] is True
        r = http.get("/v2/models/digits/versions/9/ready")
        assert r.status_code == 404 and "unknown version '9' of model 'digits'" in r.json()["error"]
        assert http.get("/v2/").json() == http.get("/v2").json()
        r = http.get("/v2/models/digits/infer")
        assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_a_text_model_advertises_the_one_input_a_request_sends(fasttext_run):
    import tritonclient.http as tc

    import lamina
    from helpers import Server

    out, _ = fasttext_run
    texts = ["The goal of the match was scored by the coach", "Bread and cheese in the kitchen"]
    expected = [p["label"] for p in lamina.load(out).predict(texts)]
    with Server(out) as server:
        client = tc.InferenceServerClient(url=f"127.0.0.1:{server.port}")
        (spec,) = client.get_model_metadata("topics")["inputs"]
        assert (spec["name"], spec["datatype"]) == ("text", "BYTES")
        inp = tc.InferInput(spec["name"], [len(texts)], spec["datatype"])
        inp.set_data_from_numpy(np.array([t.encode() for t in texts], dtype=np.object_))
        assert [x.decode() for x in client.infer("topics", [inp]).as_numpy("label")] == expected
        r = httpx.post(
            f"{server.url}/v2/models/topics/infer",
            content=texts[1].encode(),
            headers={"Inference-Header-Content-Length": "0"},
        )
        head, tail = _split(r)
        label_size = head["outputs"][1]["parameters"]["binary_data_size"]
        assert _bytes_elements(tail[-label_size:]) == expected[1:]


def _stage_counts(http) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    counts = {}
    for family in text_string_to_metric_families(http.get("/metrics").text):
        for s in family.samples:
            if (
                s.name.startswith("request_")
                and s.name.endswith("_seconds_count")
                and s.labels["model_name"] == "digits"
            ):
                counts[s.name[len("request_") : -len("_seconds_count")]] = s.value
    return counts


def test_each_stage_of_a_request_is_timed_per_model(server, sample):
    """KServe's request_{preprocess,predict,postprocess}_seconds, plus the queue wait, one observation per request."""
    with httpx.Client(base_url=server.url) as http:
        before = _stage_counts(http)
        for _ in range(3):
            assert http.post("/v2/models/digits/infer", json=_body(sample[0])).status_code == 200
        assert http.post("/v2/models/digits/infer", json=_body(sample[0], id=1)).status_code == 400  # not predicted
        after = _stage_counts(http)
    assert set(after) == {"preprocess", "queue", "predict", "postprocess"}
    assert {k: after[k] - before.get(k, 0) for k in after} == {
        "preprocess": 3,
        "queue": 3,
        "predict": 3,
        "postprocess": 3,
    }


def test_kserve_rest_client(server, sample):
    """KServe's own v2 client: readiness, binary input, mixed binary and JSON outputs, the request id."""
    import asyncio

    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
    from kserve.protocol.infer_type import RequestedOutput

    images, expected = sample

    async def talk():
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=1, timeout=30))
        try:
            assert await client.is_server_ready(server.url) and await client.is_model_ready(server.url, "digits")
            inp = InferInput("images", list(images.shape), "UINT8")
            inp.set_data_from_numpy(images, binary_data=True)
            outputs = [RequestedOutput("probabilities"), RequestedOutput("label", parameters={"binary_data": False})]
            request = InferRequest(
                "digits", [inp], request_id="k-1", parameters={"binary_data_output": True}, request_outputs=outputs
            )
            binary = await client.infer(server.url, request, "digits")
            inp = InferInput("images", list(images.shape), "UINT8", data=images.tolist())
            plain = await client.infer(server.url, InferRequest("digits", [inp], request_id="k-2"), "digits")
            return binary, plain
        finally:
            await client.close()

    binary, plain = asyncio.run(talk())
    assert binary.id == "k-1" and plain.id == "k-2"
    for response in (binary, plain):
        probs, label = response.outputs
        assert np.allclose(probs.as_numpy(), _probabilities(expected), atol=1e-4)
        assert [x.decode() if isinstance(x, bytes) else x for x in label.as_numpy()] == [e["label"] for e in expected]


def test_chunked_raw_binary_and_an_out_of_range_header(server, sample):
    """Triton's test_content_encoding_chunked_manually and test_inference_header_content_length_out_of_range."""
    images, expected = sample
    url = f"{server.url}/v2/models/digits/infer"
    data = images[1].tobytes()
    chunks = (data[i : i + 16] for i in range(0, len(data), 16))  # httpx sends a generator chunked
    r = httpx.post(url, content=chunks, headers={"Inference-Header-Content-Length": "0"})
    assert r.status_code == 200 and "chunked" not in r.headers.get("transfer-encoding", "")
    head, tail = _split(r)
    assert np.allclose(np.frombuffer(tail[:40], "<f4"), _probabilities(expected)[1], atol=1e-4)
    r = httpx.post(url, json=_body(images), headers={"Inference-Header-Content-Length": "99999999999"})
    assert r.status_code == 400 and "outside the body" in r.json()["error"]
    assert httpx.get(f"{server.url}/v2/health/live").status_code == 200
