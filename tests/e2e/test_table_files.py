"""Tables whose cells name files: a column of image paths (relative to the table) is read by a frozen photo backbone
inside the table model, a column of audio clips by the frozen speech encoder; training, batch scoring, `lamina
predict`, the server's /predict and /v2 infer (the file as base64 text) and the page's file chooser give the same
answers; a missing picture is answered, an unreadable one is named by row, column and file."""

import base64
import csv
import json
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from helpers import run_cli, served, write_picture_table


@pytest.fixture(scope="module")
def picture_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("pictures")
    table = write_picture_table(work)
    r = run_cli("train", str(table), "--output", str(work / "run"), "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    return table, work / "run", json.loads(r.stdout)


def _png_header(width: int, height: int) -> bytes:
    """A PNG's signature and header chunk declaring ``width`` x ``height`` pixels, and no pixels."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_an_image_column_is_read_by_the_photo_backbone(picture_run):
    table, run, summary = picture_run
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["data"]["modality"] == "table"
    assert cfg["data"]["columns"] == {"photo": "image", "price": "number", "shop": "category"}
    assert summary["metrics"]["test"]["accuracy"] >= 0.85  # the colour is in the picture only: chance is 0.33
    meta = json.loads((run / "model" / "lamina.json").read_text())
    photo = next(c for c in meta["preprocessing"]["columns"] if c["name"] == "photo")
    assert photo["size"] == 224 and photo["fit"] == "crop" and photo["width"] == 224 * 224 * 3


def test_batch_scoring_predict_and_the_server_agree(picture_run, tmp_path):
    table, run, _ = picture_run
    out = tmp_path / "scores.csv"
    r = run_cli("predict", str(run), str(table), "--output", str(out))
    assert r.returncode == 0, r.stderr
    scored = list(csv.DictReader(out.open()))
    truth = [x["label"] for x in csv.DictReader(table.open())]
    assert len(scored) == 90 and not any(s["error"] for s in scored)  # the row without its photo is answered
    assert sum(s["label"] == t for s, t in zip(scored, truth)) >= 80
    row = {"photo": "photos/7.png", "price": 18.5, "shop": "north"}
    r = run_cli("predict", str(run), json.dumps(row), "--json", cwd=table.parent)  # a path from where it runs
    assert r.returncode == 0, r.stderr
    local = json.loads(r.stdout)["predictions"][0]
    with served(f"shop={run}") as url:
        sent = {**row, "photo": _b64(table.parent / row["photo"])}
        r = httpx.post(f"{url}/predict/shop", json=sent)
        assert r.status_code == 200, r.text
        answer = r.json()["predictions"][0]
        assert answer["label"] == local["label"] and abs(answer["score"] - local["score"]) < 1e-5
        meta = httpx.get(f"{url}/v2/models/shop").json()
        assert {i["name"]: i["datatype"] for i in meta["inputs"]}["photo"] == "BYTES"
        body = {
            "inputs": [
                {"name": "photo", "datatype": "BYTES", "shape": [2], "data": [sent["photo"], ""]},
                {"name": "price", "datatype": "FP32", "shape": [2], "data": [18.5, 18.5]},
                {"name": "shop", "datatype": "BYTES", "shape": [2], "data": ["north", "north"]},
            ]
        }
        r = httpx.post(f"{url}/v2/models/shop/infer", json=body)
        assert r.status_code == 200, r.text
        probs = np.array(r.json()["outputs"][0]["data"]).reshape(2, -1)
        assert abs(probs[0].max() - local["score"]) < 1e-5  # the second row, without its photo, is answered too
        for photo, words in (("photos/7.png", "base64"), (base64.b64encode(b"not a picture").decode(), "photo")):
            r = httpx.post(f"{url}/predict/shop", json={**row, "photo": photo})  # a server never opens a path
            assert r.status_code == 400 and "photo" in r.json()["error"] and words in r.json()["error"]
        bomb = base64.b64encode(_png_header(12_000, 12_000)).decode()  # 144 megapixels declared in 33 bytes
        for r in (
            httpx.post(f"{url}/predict/shop", json={**row, "photo": bomb}),
            httpx.post(
                f"{url}/v2/models/shop/infer",
                json={"inputs": [{**body["inputs"][0], "data": [bomb, ""]}, *body["inputs"][1:]]},
            ),
        ):
            assert 400 <= r.status_code < 500 and "photo" in r.json()["error"], r.text
        assert httpx.get(f"{url}/v2/health/ready").status_code == 200


def test_a_picture_that_cannot_be_read_is_named(tmp_path):
    table = write_picture_table(tmp_path, rows=30)
    (tmp_path / "photos" / "11.png").write_bytes(b"\x89PNG broken")
    r = run_cli("train", str(table), "--output", str(tmp_path / "run"), "--set", "train.epochs=1")
    assert r.returncode == 2
    assert "row 13" in r.stderr and "'photo'" in r.stderr and "11.png" in r.stderr and "--skip-bad" in r.stderr
    r = run_cli("validate", str(table), "--set", "data.skip_bad=true", "--json")
    assert r.returncode == 0, r.stderr
    assert "11.png" in r.stdout and "unreadable" in r.stdout  # read as missing, and said


def test_the_page_sends_a_chosen_picture(picture_run):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from helpers import chromium_driver

    table, run, _ = picture_run
    driver = chromium_driver()
    try:
        with served(f"shop={run}") as url:
            driver.get(url + "/")
            named = {
                f.get_attribute("data-field"): f
                for f in driver.find_elements(By.CSS_SELECTOR, '#fields-shop input[data-field-of="shop"]')
            }
            assert named["photo"].get_attribute("type") == "file" and named["price"].get_attribute("type") == "number"
            listed = driver.find_elements(By.CSS_SELECTOR, f"datalist#{named['shop'].get_attribute('list')} option")
            assert "north" in [o.get_attribute("value") for o in listed]  # a category's values are offered
            named["photo"].send_keys(str(table.parent / "photos" / "4.png"))  # listing 4 is green
            named["price"].send_keys("20")
            driver.find_element(By.ID, "run-shop").click()
            WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#out-shop table.result tr"))
            first = driver.find_elements(By.CSS_SELECTOR, "#out-shop table.result tr")[0]
            assert first.find_elements(By.TAG_NAME, "td")[0].text == "green"
            assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        driver.quit()


def write_clip_table(folder: Path, per_word: int = 24) -> Path:
    """Voice notes: a word spoken by espeak-ng at varied speeds and pitches (the label) and a length in minutes that
    says nothing of it."""
    rng = np.random.default_rng(0)
    (folder / "notes").mkdir(parents=True)
    rows = []
    for word in ("yes", "no", "stop"):
        for i in range(per_word):
            name = f"notes/{word}-{i}.wav"
            speed, pitch = int(rng.integers(120, 220)), int(rng.integers(20, 80))
            voice = ["en", "en-us", "en-gb-scotland"][i % 3]
            subprocess.run(
                ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(folder / name), word],
                check=True,
            )
            rows.append([name, f"{rng.uniform(1, 9):.1f}", word])
    table = folder / "notes.csv"
    with table.open("w", newline="") as f:
        csv.writer(f).writerows([["note", "minutes", "label"], *rows])
    return table


def test_an_audio_column_is_read_by_the_speech_encoder(tmp_path):
    table = write_clip_table(tmp_path)
    r = run_cli("train", str(table), "--output", str(tmp_path / "run"), "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    cfg = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert cfg["data"]["columns"] == {"note": "audio", "minutes": "number"}
    assert json.loads(r.stdout)["metrics"]["test"]["accuracy"] >= 0.8  # three words: chance is 0.33
    clip = tmp_path / "notes" / "stop-3.wav"
    r = run_cli("predict", str(tmp_path / "run"), json.dumps({"note": str(clip), "minutes": 2}), "--json")
    assert r.returncode == 0, r.stderr
    local = json.loads(r.stdout)["predictions"][0]
    with served(f"notes={tmp_path / 'run'}") as url:
        r = httpx.post(f"{url}/predict/notes", json={"note": _b64(clip), "minutes": 2})
        assert r.status_code == 200, r.text
        answer = r.json()["predictions"][0]
        assert answer["label"] == local["label"] and abs(answer["score"] - local["score"]) < 1e-4
