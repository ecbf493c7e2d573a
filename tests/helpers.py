"""Helpers for tests: image folders, the real CLI in a subprocess, a real server process."""

from __future__ import annotations

import contextlib
import csv
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np


def write_png(path: Path, array: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def make_image_folders(
    root: Path, classes=("a", "b"), per_class: int = 6, size: int = 8, seed: int = 0, rgb: bool = False
) -> Path:
    """Class folders of random but class-dependent PNGs (class i is brighter on row i)."""
    rng = np.random.default_rng(seed)
    for ci, name in enumerate(classes):
        for j in range(per_class):
            shape = (size, size, 3) if rgb else (size, size)
            img = rng.integers(0, 60, shape, dtype=np.uint8)
            img[ci % size] = 250
            write_png(root / name / f"{j:03d}.png", img)
    return root


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real `lamina` entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "lamina", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600, env=env
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *args: str, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lamina", "serve", *map(str, args), "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        wait_ready(self.url, self.proc)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM to our own child, by PID
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextlib.contextmanager
def served(*models: str):
    """A real `lamina serve` of ``models`` (name=run) on a free port of 127.0.0.1, without auth: yields its URL, ends it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lamina", "serve", *models, "--port", str(port), "--no-auth"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def wait_ready(url: str, proc: subprocess.Popen, path: str = "/v2/health/ready", seconds: float = 60) -> None:
    """Wait until GET ``url + path`` answers 200; raise with the process's stderr if it exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(url + path, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not become ready in {seconds:g} s")


def assert_infers_a_digit(url: str, name: str, digits: Path, digits_run: Path, token: str) -> None:
    """A v2 infer request for a test digit, with ``token``, answers what `lamina predict` says (401 without it)."""
    import json

    import httpx

    from lamina.data.image import ImagePreprocess, load_image

    f = sorted((digits / "test").rglob("*.png"))[0]
    x = load_image(f, ImagePreprocess(8, 1))[None]
    body = {"inputs": [{"name": "images", "shape": list(x.shape), "datatype": "UINT8", "data": x.ravel().tolist()}]}
    assert httpx.post(f"{url}/v2/models/{name}/infer", json=body).status_code == 401
    r = httpx.post(f"{url}/v2/models/{name}/infer", json=body, headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    want = json.loads(run_cli("predict", digits_run, f, "--json").stdout)["predictions"][0]
    assert r.json()["outputs"][1]["data"] == [want["label"]]
    assert abs(max(r.json()["outputs"][0]["data"]) - want["score"]) <= 1e-4


def chromium_driver():
    """Headless Debian chromium through chromedriver (selenium), with the browser console log kept."""
    import shutil

    import pytest
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        pytest.fail("Debian packages chromium and chromium-driver are required (.ci/run installs them)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,1600",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


TOPICS = {
    "sports": ["match", "goal", "team", "coach", "score", "league", "player", "season", "stadium", "referee"],
    "food": ["bread", "cheese", "soup", "recipe", "oven", "garlic", "butter", "dinner", "spice", "kitchen"],
    "computers": ["kernel", "compiler", "server", "bug", "memory", "python", "network", "disk", "keyboard", "linux"],
}
FILLER = ["the", "a", "my", "our", "today", "again", "very", "quite", "and", "with", "was", "is", "new", "old"]


def topic_texts(per_class: int = 40, seed: int = 0, topics: dict = TOPICS) -> list[tuple[str, str]]:
    """Short seeded sentences whose topic words give the label away (a learnable tiny corpus)."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, words in topics.items():
        for _ in range(per_class):
            n = int(rng.integers(4, 14))
            tokens = [str(rng.choice(words)) if rng.random() < 0.5 else str(rng.choice(FILLER)) for _ in range(n)]
            tokens[int(rng.integers(0, n))] = str(rng.choice(words))
            rows.append((" ".join(tokens).capitalize() + ".", label))
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def write_text_csv(path: Path, rows: list[tuple[str, str]], header=("text", "label")) -> Path:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def make_tiny_bert(folder: Path, texts: list[str], width: int = 32, depth: int = 2, heads: int = 4) -> Path:
    """A random BERT-style checkpoint folder (config.json, model.safetensors, tokenizer.json) with HF tensor names."""
    import json

    import torch
    from safetensors.torch import save_file

    from lamina.data.tokenizer import save_tokenizer, train_tokenizer
    from lamina.models.minilm import SentenceClassifier

    folder.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer(texts, vocab_size=300, min_frequency=1)
    save_tokenizer(tok, folder)
    torch.manual_seed(0)
    net = SentenceClassifier(tok.get_vocab_size(), 2, width, depth, heads, 0.0, False, 16)
    state = {k: v.contiguous() for k, v in net.state_dict().items() if k.startswith(("embeddings.", "encoder."))}
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model_type": "bert",
                "hidden_size": width,
                "num_hidden_layers": depth,
                "num_attention_heads": heads,
                "intermediate_size": 4 * width,
                "max_position_embeddings": 512,
                "hidden_act": "gelu",
                "vocab_size": tok.get_vocab_size(),
            }
        )
    )
    return folder


def cli_fails(capsys, *args) -> str:
    """Run the CLI in-process; assert exit status 2 with a one-line 'error: ...' and no traceback; return stderr."""
    from lamina.cli.main import main

    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("error: ")
    return err


NOTE_WORDS = [  # a wine's tasting note: words of its class among words of every class
    ["cherry", "plum", "oak"],
    ["citrus", "apple", "mineral"],
    ["tobacco", "leather", "spice"],
    ["fine", "dry", "bright", "round", "long", "young", "soft"],
]


def write_wine_table(path, seed: int = 0):
    """scikit-learn's wine measurements (numbers) with columns a user's table has: a graded category made from one
    measurement, a noise category, an id per row, a constant, a code of the label (leakage), a tasting note (free
    text) and missing cells."""
    import csv

    from sklearn.datasets import load_wine

    wine = load_wine()
    rng = np.random.default_rng(seed)
    names = ["alcohol", "malic_acid", "color_intensity", "proline", "flavanoids", "hue"]
    idx = [list(wine.feature_names).index(n) for n in names]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", *names, "grade", "cellar", "country", "code", "notes", "label"])
        for i, (row, y) in enumerate(zip(wine.data[:, idx], wine.target)):
            cells = [f"{v:.3f}" if rng.random() > 0.05 else "" for v in row]  # 5% missing
            grade = ["light", "medium", "deep"][min(2, int(row[2] // 4))]  # from color_intensity
            words = rng.choice(NOTE_WORDS[y], 3).tolist() + rng.choice(NOTE_WORDS[3], 4).tolist()  # a few say the class
            note = " ".join(rng.permutation(words)) + f", bottle {i}"
            w.writerow(
                [f"W-{1000 + i}", *cells, grade, rng.choice(["north", "south"]), "FR", f"c{y}", note, f"class_{y}"]
            )
    return path


LISTING_COLOURS = {"red": (220, 30, 30), "green": (30, 170, 40), "blue": (30, 60, 220)}


def write_picture_table(folder: Path, rows: int = 90, seed: int = 0) -> Path:
    """A shop's listings with an image column: a photo (a disc whose colour is the label, on pictures of varied
    shapes), a price that says nothing of it, a shop; listing 5's photo is missing."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    (folder / "photos").mkdir(parents=True)
    out = []
    for i in range(rows):
        label = list(LISTING_COLOURS)[i % 3]
        w, h = (int(v) for v in rng.integers(48, 160, 2))
        img = Image.new("RGB", (w, h), (255, 255, 255))
        ImageDraw.Draw(img).ellipse([w * 0.2, h * 0.2, w * 0.8, h * 0.8], fill=LISTING_COLOURS[label])
        img.save(folder / "photos" / f"{i}.png")
        photo = "" if i == 5 else f"photos/{i}.png"
        out.append([photo, f"{rng.normal(20, 5):.2f}", str(rng.choice(["north", "south"])), label])
    table = folder / "listings.csv"
    with table.open("w", newline="") as f:
        csv.writer(f).writerows([["photo", "price", "shop", "label"], *out])
    return table
