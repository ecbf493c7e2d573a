"""Batch scoring through the engines, on one machine: `lamina predict --output`, Spark (`mlflow.pyfunc.spark_udf`,
local[2]), Ray Data (`map_batches` with lamina.BatchScorer, 2 actors of 1 CPU) and the hand-written ONNX Runtime
loop, over the same folder of digits PNGs, in one run: files/s and peak resident memory of each process tree.

    .venv/bin/python benchmarks/scale_out.py [--inputs 20000]

Each runs as its own process (Spark's JVM and Ray's workers are in its tree); wall time includes starting the engine
(Spark's JVM, Ray's local cluster) and loading the package in each of its workers. Each also scores a folder of
1,000 inputs first: the difference of the two runs gives the steady rate and, extrapolated to no input, the fixed
cost of starting (where an engine's overhead goes on one machine).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_scoring import HANDWRITTEN, link_folder, measured  # noqa: E402
from measure import zero_config  # noqa: E402

SPARK = r"""
import os, sys
import mlflow.pyfunc
from pyspark.sql import SparkSession
run, folder, out = sys.argv[1:4]
os.environ["PYSPARK_PYTHON"] = sys.executable  # Spark's Python workers: this venv
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate())
udf = mlflow.pyfunc.spark_udf(spark, os.path.join(run, "model"), env_manager="local")
paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs)
df = spark.createDataFrame([(p,) for p in paths], ["path"]).repartition(2)
df.select("path", udf("path").alias("a")).select("path", "a.label", "a.score", "a.error").write.csv(out)
spark.stop()
"""

RAY = r"""
import os, sys
import pandas as pd, ray, lamina
run, folder, out = sys.argv[1:4]
ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", object_store_memory=500 * 2**20)
paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs)
ds = ray.data.from_pandas(pd.DataFrame({"path": paths}))
ds.map_batches(lamina.BatchScorer, fn_constructor_kwargs={"model": run}, batch_format="pandas", batch_size=256,
               concurrency=2, num_cpus=1).write_csv(out)
ray.shutdown()
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=20000)
    n = ap.parse_args().inputs
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    with tempfile.TemporaryDirectory(prefix="lamina-scale-") as tmp:
        root = Path(tmp)
        from lamina.datasets.makers import make_digits

        make_digits(root / "data")
        zero_config(root / "data", root)
        small = 1000
        folders = {
            n: link_folder(root / "data", root / "in", n),
            small: link_folder(root / "data", root / "small", small),
        }
        run = str(root / "run")
        jobs = {
            "lamina predict --output": [sys.executable, "-m", "lamina", "predict", run, "{}", "--output"],
            "Spark spark_udf (local[2])": [sys.executable, "-c", SPARK, run, "{}"],
            "Ray Data map_batches (2 actors)": [sys.executable, "-c", RAY, run, "{}"],
            "hand-written ONNX Runtime loop": [sys.executable, "-c", HANDWRITTEN, run, "{}"],
        }
        print(f"CPU: {cpu}, {os.cpu_count()} cores; {n:,} digits PNGs (8x8)\n")
        print("| scorer | files/s (wall, start included) | seconds | start-up s | steady files/s | peak RSS (MB) |")
        print("|---|---|---|---|---|---|")
        for i, (name, cmd) in enumerate(jobs.items()):
            walls, peak = {}, 0.0
            for size, folder in folders.items():
                args = [str(folder) if a == "{}" else a for a in cmd]
                walls[size], rss = measured([*args, str(root / f"out{i}-{size}.csv")])
                peak = max(peak, rss)
            steady = (n - small) / (walls[n] - walls[small])
            start = walls[small] - small / steady
            print(
                f"| {name} | {n / walls[n]:,.0f} | {walls[n]:.1f} | {start:.1f} | {steady:,.0f} | {peak:,.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
