"""POST /explain/{model} on a real server (`lamina serve --explain`): the map `lamina explain` gives, under the
limits inference has (body size, pixels, the queue), and nothing when the server was not asked for it."""

from __future__ import annotations

import concurrent.futures
import io
import json
import struct
import zlib

import httpx
import numpy as np
from PIL import Image

from helpers import Server, run_cli


def _claims_pixels(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims width x height (its CRC mended)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_explain_endpoint_answers_as_the_cli_does_within_the_limits(digits_run, digits):
    picture = sorted((digits / "test" / "4").glob("*.png"))[0]
    r = run_cli("explain", digits_run, picture, "--method", "occlusion", "--json")
    assert r.returncode == 0, r.stderr
    cli = json.loads(r.stdout)["explanations"][0]
    with Server(f"digits={digits_run}", "--explain", "--max-body-mb", "1", "--max-image-pixels", "1000000") as s:
        answer = httpx.post(f"{s.url}/explain/digits", content=picture.read_bytes(), timeout=60)
        assert answer.status_code == 200, answer.text
        served = answer.json()
        assert served["model"] == "digits" and served["label"] == cli["label"] and served["method"] == "occlusion"
        np.testing.assert_allclose(np.asarray(served["map"]), np.asarray(cli["map"]), atol=1e-3)
        assert served["box"] == cli["box"]
        assert httpx.post(f"{s.url}/explain/digits", content=b"\0" * (2 << 20)).status_code == 413  # body size
        assert httpx.post(f"{s.url}/explain/digits", content=_claims_pixels(5000, 5000)).status_code == 413
        assert httpx.post(f"{s.url}/explain/digits", content=b"not a picture").status_code in (400, 415)
        assert httpx.post(f"{s.url}/explain/nope", content=picture.read_bytes()).status_code == 404
        assert "/explain/{name}" in httpx.get(f"{s.url}/openapi.json").json()["paths"]


def test_a_full_queue_refuses_explanations_and_the_server_stays_up(digits_run, digits):
    pictures = [p.read_bytes() for p in sorted((digits / "test").rglob("*.png"))[:12]]
    with Server(f"digits={digits_run}", "--explain", "--max-queue", "1", "--max-batch-size", "1") as s:

        def ask(body: bytes) -> int:
            return httpx.post(f"{s.url}/explain/digits", content=body, timeout=120).status_code

        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            codes = list(pool.map(ask, pictures))
        assert set(codes) <= {200, 503} and 503 in codes, codes  # each map is ~50 graph runs through a queue of 1
        assert httpx.get(f"{s.url}/v2/health/ready").status_code == 200
        assert ask(pictures[0]) == 200  # the queue drained: answered again


def test_explain_is_off_unless_asked_for(digits_run, digits):
    picture = sorted((digits / "test" / "4").glob("*.png"))[0]
    with Server(f"digits={digits_run}") as s:
        assert httpx.post(f"{s.url}/explain/digits", content=picture.read_bytes()).status_code == 404
        assert "/explain/{name}" not in httpx.get(f"{s.url}/openapi.json").json()["paths"]
