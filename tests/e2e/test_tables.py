"""Tables of many columns, through the CLI and a real server: a table of numbers and categories trains a table
model that reads the columns it should and says which it leaves out; evaluate, predict, batch scoring, export and
the server's /predict and /v2 infer (one input per column) follow."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from helpers import free_port, run_cli, wait_ready, write_wine_table


# a row as a client sends it: every feature column, null where it has no value (cells training had missing too)
ROW = {"alcohol": 13.2, "malic_acid": 1.8, "color_intensity": 5.6, "proline": 1100, "grade": "deep"}
ROW |= {"flavanoids": None, "hue": None, "cellar": None, "notes": None}


@pytest.fixture(scope="module")
def wine_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("wine")
    table = write_wine_table(work / "wine.csv")
    r = run_cli("train", str(table), "--output", str(work / "run"), "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    return table, work / "run", json.loads(r.stdout), r.stderr


def test_a_table_of_numbers_and_categories_trains_a_table_model(wine_run):
    table, run, summary, err = wine_run
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["data"]["modality"] == "table" and cfg["model"]["name"] == "tabular-mlp"
    kinds = cfg["data"]["columns"]
    assert kinds["grade"] == kinds["cellar"] == "category" and kinds["proline"] == "number" and kinds["notes"] == "text"
    assert not {"id", "country", "code", "label"} & set(kinds)  # identifier, constant, leakage, the label itself
    for column in ("id", "country", "code"):
        assert column in err  # every column left out is named
    assert "leakage" in err or "decide" in err
    assert summary["metrics"]["test"]["accuracy"] >= 0.85  # 3 balanced classes: majority is 0.40
    report = (run / "report.html").read_text()
    assert "Column importance (val)" in report
    ranked = report.split("Column importance (val)")[1].split("<tr><td>")[1:]
    assert len(ranked) == len(kinds) and ranked[-1].split("<")[0] != "notes"  # the words that say the class count


def test_evaluate_predict_and_batch_scoring_read_rows(wine_run, tmp_path):
    table, run, _, _ = wine_run
    r = run_cli("evaluate", str(run), str(table), "--split", "test", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["accuracy"] >= 0.85
    row = dict(ROW)
    r = run_cli("predict", str(run), json.dumps(row), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["predictions"][0]["label"].startswith("class_")
    del row["hue"]
    r = run_cli("predict", str(run), json.dumps(row), "--json")
    assert r.returncode == 2 and "'hue' not given" in r.stderr and "null" in r.stderr
    out = tmp_path / "preds.csv"
    r = run_cli("predict", str(run), str(table), "--output", str(out))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 178 and all(r["label"].startswith("class_") and not r["error"] for r in rows)
    right = sum(r["label"] == truth for r, truth in zip(rows, (x["label"] for x in csv.DictReader(table.open()))))
    assert right / len(rows) >= 0.9


def test_a_bad_cell_is_refused_by_column(wine_run):
    _, run, _, _ = wine_run
    r = run_cli("predict", str(run), json.dumps(ROW | {"proline": "lots"}), "--json")
    assert r.returncode == 2 and "proline" in r.stderr and "numbers" in r.stderr


def test_the_server_takes_a_row_and_one_input_per_column(wine_run):
    table, run, _, _ = wine_run
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lamina", "serve", f"wine={run}", "--port", str(port), "--no-auth"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc)
        rows = list(csv.DictReader(table.open()))[:3]
        r = httpx.post(f"{url}/predict/wine", content=json.dumps(rows[0]), headers={"content-type": "application/json"})
        assert r.status_code == 200 and r.json()["predictions"][0]["label"] == rows[0]["label"]
        r = httpx.post(f"{url}/predict/wine", content=json.dumps(rows))  # several rows at once
        assert r.status_code == 200 and [p["label"] for p in r.json()["predictions"]] == [x["label"] for x in rows]
        meta = httpx.get(f"{url}/v2/models/wine").json()
        inputs = {i["name"]: i["datatype"] for i in meta["inputs"]}
        assert inputs["proline"] == "FP32" and inputs["grade"] == "BYTES" and "id" not in inputs
        rows[1]["proline"] = ""  # a missing number: null in JSON
        body = {
            "inputs": [
                {
                    "name": name,
                    "datatype": datatype,
                    "shape": [len(rows)],
                    "data": [float(x[name]) if x[name] else None for x in rows]
                    if datatype == "FP32"
                    else [x[name] for x in rows],
                }
                for name, datatype in inputs.items()
            ]
        }
        r = httpx.post(f"{url}/v2/models/wine/infer", json=body)
        assert r.status_code == 200, r.text
        probs = np.array(r.json()["outputs"][0]["data"]).reshape(len(rows), -1)
        assert probs.argmax(1).tolist() == [int(x["label"][-1]) for x in rows]
        r = httpx.post(f"{url}/v2/models/wine/infer", json={"inputs": body["inputs"][1:]})
        assert r.status_code == 400 and f"'{body['inputs'][0]['name']}' not given" in r.json()["error"]
        unknown = {**rows[0], "grade": "purple"}
        r = httpx.post(f"{url}/predict/wine", json=unknown)
        assert r.status_code == 400 and "'grade'" in r.json()["error"] and "purple" in r.json()["error"], r.text
        r = httpx.post(f"{url}/predict/wine", json={**rows[0], "grade": None})  # unknown to the client: answered
        assert r.status_code == 200, r.text
        bad = {
            "inputs": [
                {"name": "proline", "datatype": "FP32", "shape": [1], "data": [1.0]},
                {"name": "nope", "datatype": "FP32", "shape": [1], "data": [1.0]},
            ]
        }
        r = httpx.post(f"{url}/v2/models/wine/infer", json=bad)
        assert r.status_code == 400 and "nope" in r.json()["error"]
        r = httpx.post(f"{url}/predict/wine", content=json.dumps(ROW | {"proline": "lots"}))
        assert r.status_code == 400 and "proline" in r.json()["error"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_numeric_label_trains_a_regressor(tmp_path):
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    table = tmp_path / "diabetes.csv"
    with open(table, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*d.feature_names, "target"])
        for row, y in zip(d.data, d.target):
            w.writerow([*(f"{v:.5f}" for v in row), f"{y:.0f}"])
    r = run_cli("train", str(table), "--output", str(tmp_path / "run"), "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)
    assert summary["task"] == "regression" if "task" in summary else True
    assert summary["metrics"]["test"]["r2"] >= 0.3  # linear regression reaches ~0.45 on this set


def test_the_package_is_an_mlflow_model_that_scores_a_dataframe(wine_run):
    import mlflow
    import pandas as pd

    table, run, _, _ = wine_run
    frame = pd.read_csv(table).head(20)
    model = mlflow.pyfunc.load_model(str(run / "model"))
    answers = model.predict(frame.drop(columns=["label"]))
    assert len(answers) == 20 and (answers["label"] == frame["label"]).mean() >= 0.85
    assert answers["label"].notna().all()


def test_the_page_asks_for_each_column_in_a_real_browser(wine_run):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from helpers import chromium_driver

    table, run, _, _ = wine_run
    row = next(r for r in csv.DictReader(table.open()) if all(r.values()))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lamina", "serve", f"wine={run}", "--port", str(port), "--no-auth"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    driver = chromium_driver()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc)
        driver.get(url + "/")
        fields = driver.find_elements(By.CSS_SELECTOR, '#fields-wine input[data-field-of="wine"]')
        named = {f.get_attribute("data-field"): f for f in fields}
        assert "proline" in named and "grade" in named and "id" not in named  # the columns the model reads
        assert named["proline"].get_attribute("type") == "number" and named["grade"].get_attribute("type") == "text"
        for name, f in named.items():
            f.send_keys(row[name])
        driver.find_element(By.ID, "run-wine").click()
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#out-wine table.result tr"))
        first = driver.find_elements(By.CSS_SELECTOR, "#out-wine table.result tr")[0]
        assert first.find_elements(By.TAG_NAME, "td")[0].text == row["label"]
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=30)


def test_a_study_tunes_a_table_model(wine_run, tmp_path):
    table, _, _, _ = wine_run
    config = tmp_path / "search.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data": {"path": str(table)},
                "train": {"epochs": 20},
                "search": {"train.lr": {"loguniform": [1e-3, 1e-2]}, "model.width": {"choice": [32, 128]}},
            }
        )
    )
    r = run_cli("tune", str(config), "--trials", "3", "--output", str(tmp_path / "out"), "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    trained = yaml.safe_load((Path(out["best_run"]) / "config.yaml").read_text())
    assert trained["data"]["modality"] == "table" and trained["model"]["width"] in (32, 128)
    assert out["best_value"] >= 0.85  # val accuracy of the best trial
