"""Hostile clients against a real server on 127.0.0.1: response amplification, decoding bombs,
unaccepted formats, slow clients, DNS rebinding, tokens, malformed JSON (docs/reliability.md)."""

from __future__ import annotations

import gzip
import io
import os
import socket
import struct
import threading
import time
import zlib

import httpx
import numpy as np
import pytest
from PIL import Image

from helpers import Server, free_port, run_cli

DIGIT = {"name": "images", "shape": [1, 8, 8, 1], "datatype": "UINT8", "data": [0] * 64}


def _png(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose header is rewritten to claim width x height (valid CRC; no pixel data to match)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = 8 + 8  # signature, then length + type of the first chunk
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13])))
    return bytes(data)


def _big_png(side: int) -> bytes:
    """A real, fully decodable side x side PNG (compresses to a few hundred KB)."""
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (200, 30, 30)).save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def test_repeated_outputs_are_refused_at_once(server):
    body = {"inputs": [DIGIT], "outputs": [{"name": "probabilities"}] * 2000}
    start = time.monotonic()
    r = httpx.post(f"{server.url}/v2/models/digits/infer", json=body, timeout=30)
    assert r.status_code == 400 and "more than once" in r.json()["error"]
    assert len(r.content) < 200 and time.monotonic() - start < 5


def test_deeply_nested_json_is_a_400(server):
    body = b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = httpx.post(f"{server.url}/v2/models/digits/infer", content=body)
    assert r.status_code == 400 and "nested too deeply" in r.json()["error"]


def test_pixel_bombs_are_refused_from_the_header(server):
    start = time.monotonic()
    r = httpx.post(f"{server.url}/predict/digits", content=_png(60_000, 60_000), timeout=30)
    assert r.status_code == 413 and "over the limit" in r.json()["error"]
    # 54 MP: over the serving limit
    r = httpx.post(f"{server.url}/predict/digits", content=_png(9_000, 6_000), timeout=30)
    assert r.status_code == 413
    assert time.monotonic() - start < 5  # nothing was decoded (a 3.6-gigapixel decode would take minutes)


def test_a_jpeg_with_a_thousand_scans_is_refused(server):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        buf, "JPEG", progressive=True
    )
    data = buf.getvalue()
    first = data.index(b"\xff\xda")
    scans = data[first:-2]  # every scan (SOS header + entropy-coded data) up to EOI
    bomb = data[:first] + scans * 120 + b"\xff\xd9"
    r = httpx.post(f"{server.url}/predict/digits", content=bomb)
    assert r.status_code == 413 and "scans" in r.json()["error"]
    r = httpx.post(f"{server.url}/predict/digits", content=data)  # the same JPEG, once: a normal prediction
    assert r.status_code == 200


@pytest.mark.parametrize("fmt", ["TIFF", "GIF", "PPM", "ICO", "EPS-like"])
def test_formats_outside_the_documented_ones_are_415(server, fmt):
    if fmt == "EPS-like":
        data = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n"
    else:
        buf = io.BytesIO()
        Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, fmt)
        data = buf.getvalue()
    r = httpx.post(f"{server.url}/predict/digits", content=data)
    assert r.status_code == 415 and "unsupported image format" in r.json()["error"]


def test_health_answers_while_large_images_are_decoded(digits_run):
    with Server(f"digits={digits_run}", "--max-body-mb", "8") as s:
        blob = _big_png(6_000)  # 36 MP each, under the pixel limit: really decoded
        files = [("file", (f"{i}.png", blob, "image/png")) for i in range(4)]
        results, worst = [], 0.0

        def flood():
            with httpx.Client(timeout=120) as c:
                results.append(c.post(f"{s.url}/predict/digits", files=files).status_code)

        threads = [threading.Thread(target=flood) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        with httpx.Client(timeout=30) as c:
            while any(t.is_alive() for t in threads):
                start = time.monotonic()
                assert c.get(f"{s.url}/v2/health/live").status_code == 200
                worst = max(worst, time.monotonic() - start)
                time.sleep(0.05)
        for t in threads:
            t.join()
    # Decoding on the event loop stalled health for seconds; off it, health waits for no decode.
    assert worst < 1.0, worst
    assert set(results) <= {200, 503} and 200 in results


def test_slow_clients_are_cut_off_and_do_not_hold_the_drain(digits_run):
    s = Server(f"digits={digits_run}", "--header-timeout-s", "1", "--body-timeout-s", "1")
    try:
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
            c.sendall(b"GET /v2 HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never finish
            start = time.monotonic()
            assert c.recv(100) == b""  # closed by the server
            assert time.monotonic() - start < 5
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
            # body never finishes
            c.sendall(b"POST /predict/digits HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nabc")
            assert c.recv(4096).startswith(b"HTTP/1.1 408")
        idle = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        trickle = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        trickle.sendall(b"POST /predict/digits HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nab")
        time.sleep(0.2)
        start = time.monotonic()
        assert s.stop() == 0
        assert time.monotonic() - start < 10  # not the 30 s drain
        idle.close()
        trickle.close()
    finally:
        s.stop()


def test_connection_cap(digits_run):
    with Server(f"digits={digits_run}", "--max-connections", "4") as s:
        held = [socket.create_connection(("127.0.0.1", s.port), timeout=10) for _ in range(6)]
        time.sleep(0.2)
        r = httpx.get(f"{s.url}/v2")
        assert r.status_code == 503
        for c in held:
            c.close()
        time.sleep(0.2)
        assert httpx.get(f"{s.url}/v2").status_code == 200


def test_dns_rebinding_hosts_are_refused_on_loopback(server):
    for path in ("/v2", "/metrics", "/", "/v2/models/digits"):
        r = httpx.get(server.url + path, headers={"Host": "attacker.example"})
        assert r.status_code == 403 and "Host" in r.json()["error"]
    r = httpx.post(
        f"{server.url}/v2/models/digits/infer", json={"inputs": [DIGIT]}, headers={"Host": "attacker.example:80"}
    )
    assert r.status_code == 403
    assert httpx.get(f"{server.url}/v2/health/live", headers={"Host": "attacker.example"}).status_code == 200
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}", "LOCALHOST"):
        assert httpx.get(server.url + "/v2", headers={"Host": host}).status_code == 200
    r = httpx.get(server.url + "/v2")
    assert r.headers["x-content-type-options"] == "nosniff"


def test_allowed_hosts_can_be_widened(digits_run):
    with Server(f"digits={digits_run}", "--allowed-hosts", "models.internal") as s:
        assert httpx.get(s.url + "/v2", headers={"Host": "models.internal:8000"}).status_code == 200
        assert httpx.get(s.url + "/v2").status_code == 403


def test_token_rules(digits_run, tmp_path):
    port = str(free_port())
    r = run_cli("serve", digits_run, "--token", "", "--port", port)
    assert r.returncode == 2 and "empty" in r.stderr
    r = run_cli("serve", digits_run, "--host", "0.0.0.0", "--port", port)
    assert r.returncode == 2 and "--no-auth" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "empty").write_text("\n")
    r = run_cli("serve", digits_run, "--token-file", tmp_path / "empty", "--port", port)
    assert r.returncode == 2 and "empty" in r.stderr
    (tmp_path / "token").write_text("f1le-t0ken\n")
    image = None
    with Server(digits_run, "--token-file", tmp_path / "token") as s:
        assert "f1le-t0ken" not in " ".join(s.proc.args)
        assert httpx.get(s.url + "/v2").status_code == 401
        for scheme in ("Bearer", "bearer", "BEARER"):
            assert httpx.get(s.url + "/v2", headers={"Authorization": f"{scheme} f1le-t0ken"}).status_code == 200
        page = httpx.get(s.url + "/")  # the page loads, shows no model, and asks for the token
        assert page.status_code == 200 and "needs a token" in page.text and "digits" not in page.text
        del image
    with Server(digits_run, env=dict(os.environ, LAMINA_TOKEN="env-t0ken")) as s:
        assert httpx.get(s.url + "/v2").status_code == 401
        assert httpx.get(s.url + "/v2", headers={"Authorization": "Bearer env-t0ken"}).status_code == 200


def test_gzip_requests_are_counted_under_their_model(server, digits):
    image = next((digits / "test" / "4").glob("*.png")).read_bytes()
    r = httpx.post(f"{server.url}/predict/digits", content=gzip.compress(image), headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200
    text = httpx.get(f"{server.url}/metrics").text
    assert 'lamina_requests_total{endpoint="predict",model="digits",status="200"}' in text
    assert 'endpoint="other",model="_unknown",status="200"' not in text


def test_page_with_a_token_asks_for_it_in_a_browser(digits_run):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from helpers import chromium_driver

    with Server(digits_run, "--token", "br0wser") as s:
        driver = chromium_driver()
        try:
            driver.get(s.url + "/")
            assert driver.find_elements(By.CSS_SELECTOR, "[data-model]") == []
            driver.find_element(By.ID, "token").send_keys("br0wser")
            driver.find_element(By.ID, "connect").click()
            WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-model="digits"] h2'))
            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert errors == []
        finally:
            driver.quit()


def test_serving_options_are_checked(digits_run):
    r = run_cli("serve", digits_run, "--max-image-pixels", "0", "--port", str(free_port()))
    assert r.returncode == 2 and "must be > 0" in r.stderr
