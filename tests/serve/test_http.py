"""The real server on 127.0.0.1: the official KServe v2 client, /predict, limits, auth, metrics."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import httpx
import numpy as np
import pytest

from helpers import run_cli
from lamina.data.image import ImagePreprocess, load_image


def _images(digits, n=6):
    files = sorted((digits / "test").rglob("*.png"))[:: 359 // n][:n]
    return files, np.stack([load_image(f, ImagePreprocess(8, 1)) for f in files])


def test_tritonclient_against_the_server(server, digits, digits_run):
    import tritonclient.http as tc

    client = tc.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("digits")
    meta = client.get_model_metadata("digits")
    assert meta["inputs"][0]["datatype"] == "UINT8" and meta["inputs"][0]["shape"] == [-1, 8, 8, 1]
    files, images = _images(digits)
    import lamina

    expected = lamina.load(digits_run).predict([str(f) for f in files], top_k=10)
    for binary in (True, False):
        inp = tc.InferInput("images", list(images.shape), "UINT8")
        inp.set_data_from_numpy(images, binary_data=binary)
        outs = [
            tc.InferRequestedOutput("probabilities", binary_data=False),
            tc.InferRequestedOutput("label", binary_data=False),
        ]
        result = client.infer("digits", [inp], outputs=outs, request_id="req-7")
        probs = result.as_numpy("probabilities")
        labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label")]
        assert result.get_response()["id"] == "req-7"
        assert probs.shape == (len(files), 10)
        assert labels == [e["label"] for e in expected]
        for row, e in zip(probs, expected):
            for t in e["top_k"]:
                assert abs(row[int(t["label"])] - t["score"]) <= 1e-4


def test_predict_endpoint_matches_cli_predict(server, digits, digits_run):
    files, _ = _images(digits, n=8)
    r = run_cli("predict", digits_run, *files, "--json", "--top-k", "3")
    assert r.returncode == 0, r.stderr
    cli = json.loads(r.stdout)["predictions"]
    with httpx.Client(base_url=server.url) as http:
        for f, want in zip(files, cli):
            raw = http.post("/predict/digits?top_k=3", content=f.read_bytes()).json()["predictions"][0]
            multi = http.post("/predict/digits?top_k=3", files={"file": (f.name, f.read_bytes(), "image/png")}).json()
            assert multi["predictions"][0] == raw
            assert raw["label"] == want["label"]
            assert [t["label"] for t in raw["top_k"]] == [t["label"] for t in want["top_k"]]
            assert all(abs(a["score"] - b["score"]) <= 1e-4 for a, b in zip(raw["top_k"], want["top_k"]))


@pytest.mark.parametrize(
    "body, message",
    [
        (
            {"inputs": [{"name": "images", "shape": [1, 8, 8, 1], "datatype": "UINT8", "data": [0] * 10}]},
            "has 10 elements but shape",
        ),
        (
            {"inputs": [{"name": "images", "shape": [1, 28, 28, 1], "datatype": "UINT8", "data": [0] * 784}]},
            "input shape must be [N, 8, 8, 1]",
        ),
        (
            {"inputs": [{"name": "images", "shape": [10**9, 8, 8, 1], "datatype": "UINT8", "data": []}]},
            "batch size must be between",
        ),
        (
            {"inputs": [{"name": "images", "shape": [1, 8, 8, 1], "datatype": "FP32", "data": [0.0] * 64}]},
            "datatype must be UINT8",
        ),
        ({"inputs": [{"name": "images", "shape": [1, 8, 8, 1], "datatype": "UINT8", "data": [300] * 64}]}, "0..255"),
        (
            {"inputs": [{"name": "images", "shape": [1, 8, 8, -1], "datatype": "UINT8", "data": []}]},
            "negative dimension",
        ),
        ({"inputs": []}, "exactly one tensor"),
        (
            {
                "inputs": [{"name": "images", "shape": [1, 8, 8, 1], "datatype": "UINT8", "data": [0] * 64}],
                "outputs": [{"name": "x"}],
            },
            "unknown output",
        ),
    ],
)
def test_bad_infer_requests_are_400_with_a_safe_message(server, body, message):
    r = httpx.post(f"{server.url}/v2/models/digits/infer", json=body)
    assert r.status_code == 400 and message in r.json()["error"]
    assert "Traceback" not in r.text and "/tmp" not in r.text and "site-packages" not in r.text


def test_not_json_unknown_model_bad_image(server):
    assert httpx.post(f"{server.url}/v2/models/digits/infer", content=b"{not json").status_code == 400
    r = httpx.post(f"{server.url}/v2/models/../../etc/infer", json={})
    assert r.status_code == 404 and set(r.json()) == {"error"}
    r = httpx.get(f"{server.url}/v2/models/nope")
    assert r.status_code == 404 and r.json() == {"error": "unknown model 'nope'"}
    r = httpx.post(f"{server.url}/predict/digits", content=b"\x89PNG garbage")
    assert r.status_code == 400 and r.json()["error"].startswith("cannot decode image")
    r = httpx.post(f"{server.url}/predict/digits", content=b"")
    assert r.status_code == 400


def test_body_limits_before_reading(server):
    r = httpx.post(f"{server.url}/predict/digits", content=b"x" * (2 * 2**20))
    assert r.status_code == 413 and "body larger" in r.json()["error"]

    def chunks():
        for _ in range(40):
            yield b"y" * 65536  # 2.5 MiB in chunks, no Content-Length

    r = httpx.post(f"{server.url}/predict/digits", content=chunks())
    assert r.status_code == 413
    # A Content-Length far over the limit is refused without the server waiting for the body.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"POST /predict/digits HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 999999999\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 413")


def test_compressed_bodies_are_limited_by_their_decoded_size(server, digits):
    import gzip
    import zlib

    image = next((digits / "test" / "4").glob("*.png")).read_bytes()
    for encoding, packed in (("gzip", gzip.compress(image)), ("deflate", zlib.compress(image))):
        r = httpx.post(f"{server.url}/predict/digits", content=packed, headers={"Content-Encoding": encoding})
        assert r.status_code == 200, r.text
    bomb = gzip.compress(b"\0" * (64 * 2**20))  # 64 MiB of zeros in ~64 KiB: under the 1 MiB limit compressed
    assert len(bomb) < 2**20
    r = httpx.post(f"{server.url}/predict/digits", content=bomb, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 413
    body = json.dumps(
        {"inputs": [{"name": "images", "shape": [1, 8, 8, 1], "datatype": "UINT8", "data": [0] * 64}]}
    ).encode()
    r = httpx.post(
        f"{server.url}/v2/models/digits/infer", content=gzip.compress(body), headers={"Content-Encoding": "gzip"}
    )
    assert r.status_code == 200
    r = httpx.post(
        f"{server.url}/predict/digits", content=gzip.compress(image)[:-10], headers={"Content-Encoding": "gzip"}
    )
    assert r.status_code == 400 and r.json() == {"error": "compressed body is corrupt or truncated"}
    r = httpx.post(f"{server.url}/predict/digits", content=b"xx", headers={"Content-Encoding": "br"})
    assert r.status_code == 415


@pytest.mark.parametrize("name", ["../x", "..%2fx", "%252e%252e%252f", "..%5cx", "%2fetc%2fpasswd", "..\\x", "C:%5cx"])
def test_path_traversal_forms_in_model_names_are_404(server, name):
    for method, path in (
        ("GET", f"/v2/models/{name}"),
        ("POST", f"/v2/models/{name}/infer"),
        ("POST", f"/predict/{name}"),
    ):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:  # raw: no client-side normalisation
            s.sendall(
                f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            reply = s.recv(4096)
        assert reply.split(b" ")[1] == b"404", (path, reply[:200])


def test_token_required_except_health(token_server, digits):
    url = token_server.url
    assert httpx.get(f"{url}/v2/health/live").status_code == 200
    assert httpx.get(f"{url}/v2/health/ready").status_code == 200
    for path in ("/v2", "/v2/models/digits", "/metrics", "/openapi.json"):
        r = httpx.get(url + path)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{url}/v2", headers={"Authorization": "Bearer wrong"}).status_code == 401
    f = next((digits / "test" / "5").glob("*.png"))
    r = httpx.post(f"{url}/predict/digits", content=f.read_bytes(), headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 200 and r.json()["predictions"][0]["label"]


def test_metrics_have_bounded_labels(server):
    for i in range(5):
        httpx.get(f"{server.url}/v2/models/attacker-{i}")
    text = httpx.get(f"{server.url}/metrics").text
    assert "attacker" not in text
    assert 'lamina_requests_total{endpoint="metadata",model="_unknown",status="404"}' in text
    assert "lamina_batch_size_bucket" in text and "lamina_request_duration_seconds_bucket" in text


def test_serving_process_never_imports_torch(digits_run):
    code = f"""
import sys, threading, time, urllib.request, uvicorn
from lamina.serve.app import build_app
from lamina.serve.runtime import load_served_model
app = build_app([load_served_model({str(digits_run)!r})])
server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
thread = threading.Thread(target=server.run)
thread.start()
while not server.started: time.sleep(0.05)
port = server.servers[0].sockets[0].getsockname()[1]
body = b'{{"inputs":[{{"name":"images","shape":[1,8,8,1],"datatype":"UINT8","data":[' + b",".join([b"0"] * 64) + b']}}]}}'
r = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{{port}}/v2/models/digits/infer", data=body))
assert r.status == 200
print("torch" in sys.modules)
server.should_exit = True
thread.join(30)  # a clean stop: a daemon thread still logging at interpreter exit can abort the process
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_page_lists_models(server):
    r = httpx.get(server.url + "/")
    assert r.status_code == 200 and '"name": "digits"' in r.text and "<script>" in r.text
    assert (
        "script-src 'sha256-" in r.headers["content-security-policy"]
        and "unsafe-inline" not in r.headers["content-security-policy"]
    )
    assert r.headers["x-content-type-options"] == "nosniff"
