"""MLflow tracking and registry against a real `mlflow server` on 127.0.0.1 whose backend store is a real PostgreSQL
server (tests/postgres.py), as a team shares one; SQLite where a test kills the server."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from helpers import Server, free_port, make_image_folders, run_cli


def _start_mlflow(root, backend: str | None = None):
    """An `mlflow server` with its backend store at ``backend`` (default: a SQLite file in ``root``)."""
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            backend or f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(root / "server.log", "w"),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, (root / "server.log").read_text()[-2000:]
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.25)
    raise RuntimeError("mlflow server did not start in 120 s")


def _stop(proc):
    """End the server we started: its own process group (the server and its workers), by its PID."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory, postgres):
    proc, url = _start_mlflow(tmp_path_factory.mktemp("mlflow"), postgres.url("mlflow"))
    yield url
    _stop(proc)


@pytest.fixture(scope="module")
def registered_run(mlflow_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("tracked")
    data = make_image_folders(root / "data", classes=("a", "b", "c"), per_class=12)
    out = root / "run"
    r = run_cli(
        "train",
        data,
        "--output",
        out,
        "--set",
        "train.epochs=3",
        "--tracking-uri",
        mlflow_server,
        "--register",
        "tiny",
        "--alias",
        "champion",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), out, data


def test_run_metrics_artifacts_tags_and_version_are_in_mlflow(mlflow_server, registered_run):
    from mlflow.tracking import MlflowClient

    summary, out, _ = registered_run
    t = summary["tracking"]
    assert t["unlogged"] == [] and t["model_version"] == "1"
    client = MlflowClient(mlflow_server)
    run = client.get_run(t["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["lamina.data_fingerprint"] == json.loads((out / "data.json").read_text())["fingerprint"]
    assert run.data.params["train.epochs"] == "3" and run.data.params["model.name"] == "resnet-small"
    history = client.get_metric_history(t["run_id"], "val_accuracy")
    assert [m.step for m in history] == sorted(m.step for m in history) and len(history) == 3  # one per epoch
    assert run.data.metrics["final_test_accuracy"] == pytest.approx(summary["metrics"]["test"]["accuracy"])
    files = {a.path for a in client.list_artifacts(t["run_id"])} | {
        a.path for a in client.list_artifacts(t["run_id"], "model")
    }
    assert {"report.html", "metrics.jsonl", "config.yaml", "model/model.onnx", "model/lamina.json"} <= files
    version = client.get_model_version_by_alias("tiny", "champion")
    assert version.version == "1" and version.run_id == t["run_id"]
    assert json.loads((out / "run.json").read_text())["tracking"]["run_id"] == t["run_id"]


@pytest.mark.parametrize("uri, via_env", [("models:/tiny@champion", True), ("models:/tiny/1", False)])
def test_serve_from_the_registry_answers_a_prediction(mlflow_server, registered_run, uri, via_env):
    import lamina

    _, out, data = registered_run
    image = sorted((data / "b").glob("*.png"))[0]
    expected = lamina.load(out).predict([str(image)])[0]["label"]
    env = dict(os.environ, MLFLOW_TRACKING_URI=mlflow_server) if via_env else None
    args = (uri,) if via_env else (uri, "--tracking-uri", mlflow_server)
    server = Server(*args, env=env)
    try:
        req = urllib.request.Request(
            server.url + "/predict/tiny", data=image.read_bytes(), headers={"Content-Type": "application/octet-stream"}
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            assert json.loads(r.read())["predictions"][0]["label"] == expected
    finally:
        server.stop()


def _lamina_answer(image, uri: str, mlflow_server: str) -> list:
    server = Server(uri, "--tracking-uri", mlflow_server)
    try:
        req = urllib.request.Request(
            server.url + "/predict/tiny", data=image.read_bytes(), headers={"Content-Type": "application/octet-stream"}
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())["predictions"]
    finally:
        server.stop()


def test_mlflow_models_serve_answers_what_lamina_serve_answers(mlflow_server, registered_run, tmp_path):
    """A registered version is an MLflow model (python_function flavor, no pickle): MLflow's own server loads it."""
    import base64

    _, _, data = registered_run
    image = sorted((data / "c").glob("*.png"))[0]
    expected = _lamina_answer(image, "models:/tiny@champion", mlflow_server)
    port = free_port()
    # as in an activated virtual environment: MLflow starts `uvicorn` by name
    env = dict(
        os.environ,
        MLFLOW_TRACKING_URI=mlflow_server,
        PATH=f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}",
    )
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            "models:/tiny@champion",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(url + "/ping", timeout=1):
                    break
            except OSError:
                time.sleep(0.25)
        body = {"dataframe_split": {"columns": ["file"], "data": [[base64.b64encode(image.read_bytes()).decode()]]}}
        req = urllib.request.Request(
            url + "/invocations", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            answer = json.loads(r.read())["predictions"]
    finally:
        _stop(proc)
    assert answer[0]["label"] == expected[0]["label"] and answer[0]["error"] == ""
    assert [t["label"] for t in json.loads(answer[0]["top_k"])] == [t["label"] for t in expected[0]["top_k"]]
    assert answer[0]["score"] == pytest.approx(expected[0]["score"], abs=1e-6)


def test_pyfunc_load_model_predicts_in_process(mlflow_server, registered_run):
    import mlflow.pyfunc
    import pandas as pd

    import lamina

    _, out, data = registered_run
    images = sorted((data / "a").glob("*.png"))[:3]
    mlflow.set_tracking_uri(mlflow_server)
    model = mlflow.pyfunc.load_model("models:/tiny/1")
    got = model.predict(pd.DataFrame({"file": [p.read_bytes() for p in images]})).to_dict("records")
    assert [g["label"] for g in got] == [r["label"] for r in lamina.load(out).predict([str(p) for p in images])]
    assert all(len(json.loads(g["top_k"])) == 3 for g in got)  # every label of the three
    summary, _, _ = registered_run
    by_run = mlflow.pyfunc.load_model(f"runs:/{summary['tracking']['run_id']}/model")
    assert by_run.predict(pd.DataFrame({"path": [str(p) for p in images]}))["label"].tolist() == [
        g["label"] for g in got
    ]


def test_spark_scores_a_registered_version(mlflow_server, registered_run, spark):
    """A Spark DataFrame of image paths through `spark_udf` over models:/NAME/VERSION, as a team's Spark job would."""
    import mlflow.pyfunc

    import lamina

    _, out, data = registered_run
    images = sorted((data / "b").glob("*.png"))[:4]
    mlflow.set_tracking_uri(mlflow_server)
    udf = mlflow.pyfunc.spark_udf(spark, "models:/tiny/1", env_manager="local")
    df = spark.createDataFrame([(str(p),) for p in images], ["path"])
    rows = df.select(udf("path").alias("a")).select("a.*").collect()
    assert [r["label"] for r in rows] == [a["label"] for a in lamina.load(out).predict([str(p) for p in images])]


def test_unknown_registry_alias_is_a_clear_error(mlflow_server):
    r = run_cli("serve", "models:/tiny@nosuch", "--tracking-uri", mlflow_server, "--port", str(free_port()))
    assert r.returncode == 2 and "models:/tiny@nosuch: not found" in r.stderr, r.stderr


def test_tracking_server_dying_mid_run_loses_nothing_locally(digits, tmp_path):
    proc, url = _start_mlflow(tmp_path / "doomed")
    out = tmp_path / "run"
    train = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lamina",
            "train",
            str(digits),
            "--output",
            str(out),
            "--set",
            "train.epochs=4",
            "--tracking-uri",
            url,
            "--register",
            "doomed",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the MLflow run exists: training is about to start
            info = out / "run.json"
            if info.is_file() and json.loads(info.read_text()).get("tracking", {}).get("run_id"):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the MLflow run was never created")
        _stop(proc)
        stdout, stderr = train.communicate(timeout=300)
    finally:
        if train.poll() is None:
            train.kill()
        _stop(proc)
    assert train.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["tracking"]["unlogged"], summary["tracking"]  # it says what did not get there
    assert "did not get everything" in stderr and "model.onnx" not in stderr
    assert "model_version" not in summary["tracking"]
    for name in ("report.html", "metrics.jsonl", "config.yaml", "model/model.onnx", "model/lamina.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "run.json").read_text())["status"] == "completed"


def test_unreachable_server_at_start_trains_untracked(tmp_path):
    data = make_image_folders(tmp_path / "data", per_class=8)
    r = run_cli(
        "train",
        data,
        "--output",
        tmp_path / "run",
        "--set",
        "train.epochs=1",
        "--tracking-uri",
        f"http://127.0.0.1:{free_port()}",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    assert "MLflow tracking is off for this run" in r.stderr
    assert json.loads((tmp_path / "run" / "run.json").read_text())["tracking"]["unlogged"][0].startswith("everything")


def test_register_without_a_tracking_server_is_refused(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    r = run_cli("train", make_image_folders(tmp_path / "d"), "--register", "x", env=env)
    assert r.returncode == 2 and "MLFLOW_TRACKING_URI" in r.stderr


def test_served_model_version_is_the_one_the_alias_resolved_to(mlflow_server, registered_run):
    import math

    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server)
    first = client.get_model_version("tiny", "1")
    second = client.create_model_version("tiny", first.source, run_id=first.run_id)  # the same package as version 2
    client.set_registered_model_alias("tiny", "challenger", second.version)
    server = Server("models:/tiny@challenger", "--tracking-uri", mlflow_server)
    try:
        meta = json.loads(urllib.request.urlopen(server.url + "/v2/models/tiny", timeout=30).read())
        assert meta["versions"] == [str(second.version)] and second.version != "1"
        shape = [1, *meta["inputs"][0]["shape"][1:]]
        body = json.dumps(
            {"inputs": [{"name": "images", "datatype": "UINT8", "shape": shape, "data": [0] * math.prod(shape)}]}
        ).encode()
        with urllib.request.urlopen(
            urllib.request.Request(server.url + "/v2/models/tiny/infer", data=body), timeout=30
        ) as r:
            assert json.loads(r.read())["model_version"] == str(second.version)
    finally:
        server.stop()
