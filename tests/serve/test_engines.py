"""Batch scoring inside the engines teams run: Spark through MLflow's pyfunc (`spark_udf`, local[2]) and Ray Data
(`map_batches` with lamina.BatchScorer, a local Ray), each answering row for row what `lamina predict --output`
writes for the same inputs; an unreadable file gets its reason in `error` and the job goes on."""

from __future__ import annotations

import csv
import json

from helpers import run_cli


def _expected(run, folder, tmp_path) -> list[dict]:
    r = run_cli("predict", run, folder, "--output", tmp_path / "expected.csv")
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "expected.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _same(got: dict, want: dict) -> None:
    """An engine's typed row against a CSV row of `lamina predict --output`."""
    assert got["label"] == want["label"] and abs(got["score"] - float(want["score"])) <= 1e-5
    g, w = json.loads(got["top_k"]), json.loads(want["top_k"])
    assert [t["label"] for t in g] == [t["label"] for t in w]
    assert all(abs(a["score"] - b["score"]) <= 1e-5 for a, b in zip(g, w))
    assert got["error"] == want["error"] == ""


def test_spark_udf_over_a_package_answers_as_predict_output(spark, digits, digits_run, tmp_path):
    import mlflow.pyfunc

    folder = digits / "test" / "3"
    want = _expected(digits_run, folder, tmp_path)
    paths = [str(folder / w["input"]) for w in want]
    udf = mlflow.pyfunc.spark_udf(spark, str(digits_run / "model"), env_manager="local")  # types from the signature
    by_path = spark.createDataFrame([(p,) for p in paths + [str(folder / "missing.png")]], ["path"])
    rows = by_path.select("path", udf("path").alias("a")).select("path", "a.*").collect()
    for row, w in zip(rows, want):
        _same(row.asDict(), w)
    assert (
        rows[-1]["error"].startswith("cannot read")
        and rows[-1]["label"] == ""
        and rows[-1]["score"] in (None,)  # NaN in pandas, null in Spark
    )
    by_bytes = spark.createDataFrame([(bytearray(open(p, "rb").read()),) for p in paths], ["file"])
    rows = by_bytes.select(udf("file").alias("a")).select("a.*").collect()
    for row, w in zip(rows, want):
        _same(row.asDict(), w)


def test_spark_udf_over_a_text_model(spark, fasttext_run, corpus, tmp_path):
    import mlflow.pyfunc

    run, _ = fasttext_run
    want = _expected(run, corpus, tmp_path)
    with open(corpus, newline="", encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    udf = mlflow.pyfunc.spark_udf(spark, str(run / "model"), env_manager="local")
    rows = spark.createDataFrame([(t,) for t in texts], ["text"]).select(udf("text").alias("a")).select("a.*").collect()
    assert len(rows) == len(want)
    for row, w in zip(rows, want):
        _same(row.asDict(), w)


def test_pyfunc_loads_a_package_folder_without_a_tracking_server(digits, digits_run):
    import mlflow.pyfunc
    import pandas as pd

    model = mlflow.pyfunc.load_model(str(digits_run / "model"))
    files = sorted((digits / "test" / "5").glob("*.png"))[:3]
    got = model.predict(pd.DataFrame({"path": [str(f) for f in files]}))
    assert list(got.columns) == ["label", "score", "top_k", "error"] and (got["error"] == "").all()
    schema = model.metadata.get_output_schema().input_names()
    assert schema == ["label", "score", "top_k", "error"]


def test_ray_map_batches_with_the_batch_scorer(digits, digits_run, tmp_path):
    import pandas as pd
    import ray

    import lamina

    folder = digits / "test" / "7"
    want = _expected(digits_run, folder, tmp_path)
    paths = [str(folder / w["input"]) for w in want]
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20, _node_ip_address="127.0.0.1")
    try:
        frame = pd.DataFrame({"path": paths + [str(tmp_path / "expected.csv")]})
        ds = ray.data.from_pandas([frame.iloc[::2], frame.iloc[1::2]])  # two blocks, one per actor
        out = ds.map_batches(
            lamina.BatchScorer,
            fn_constructor_kwargs={"model": str(digits_run)},
            batch_format="pandas",
            batch_size=16,
            concurrency=2,
            num_cpus=1,
        ).to_pandas()
    finally:
        ray.shutdown()
    rows = {r["path"]: r for r in out.to_dict("records")}
    assert len(rows) == len(paths) + 1
    for p, w in zip(paths, want):
        _same(rows[p], w)
    assert rows[str(tmp_path / "expected.csv")]["error"].startswith("unsupported image format")
