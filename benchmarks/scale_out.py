"""Batch scoring through the engines, on one machine: `lamina predict --output`, Spark (`mlflow.pyfunc.spark_udf`,
local[2]), Ray Data (`map_batches` with lamina.BatchScorer, 2 actors of 1 CPU) and the hand-written ONNX Runtime
loop, over the same folder of digits PNGs, in one run: files/s and peak resident memory of each process tree.

    .venv/bin/python benchmarks/scale_out.py [--inputs 20000]

Each runs as its own process (Spark's JVM and Ray's workers are in its tree). Wall time includes starting the
engine (Spark's JVM, Ray's cluster), printed apart where the script can tell: the engines are slower than lamina's
own scorer on one machine, and the table says by how much and where it goes.
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
import os, sys, time
t0 = time.perf_counter()
import mlflow.pyfunc
from pyspark.sql import SparkSession
run, folder, out = sys.argv[1:4]
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.pyspark.python", sys.executable)
         .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate())
udf = mlflow.pyfunc.spark_udf(spark, os.path.join(run, "model"), env_manager="local")
started = time.perf_counter()
paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs)
df = spark.createDataFrame([(p,) for p in paths], ["path"]).repartition(2)
df.select("path", udf("path").alias("a")).select("path", "a.label", "a.score", "a.error").write.csv(out)
print(f"start {started - t0:.1f}", file=sys.stderr)
spark.stop()
"""

RAY = r"""
import os, sys, time
t0 = time.perf_counter()
import pandas as pd, ray, lamina
run, folder, out = sys.argv[1:4]
ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", object_store_memory=500 * 2**20)
started = time.perf_counter()
paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs)
ds = ray.data.from_pandas(pd.DataFrame({"path": paths}))
ds.map_batches(lamina.BatchScorer, fn_constructor_kwargs={"model": run}, batch_format="pandas", batch_size=256,
               concurrency=2, num_cpus=1).write_csv(out)
print(f"start {started - t0:.1f}", file=sys.stderr)
ray.shutdown()
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=20000)
    n = ap.parse_args().inputs
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    with tempfile.TemporaryDirectory(prefix="lamina-scale-") as tmp:
        root = Path(tmp)
        from lamina.data.makers import make_digits

        make_digits(root / "data")
        zero_config(root / "data", root)
        folder = link_folder(root / "data", root / "in", n)
        run = str(root / "run")
        jobs = {
            "lamina predict --output": [sys.executable, "-m", "lamina", "predict", run, str(folder), "--output"],
            "Spark spark_udf (local[2])": [sys.executable, "-c", SPARK, run, str(folder)],
            "Ray Data map_batches (2 actors)": [sys.executable, "-c", RAY, run, str(folder)],
            "hand-written ONNX Runtime loop": [sys.executable, "-c", HANDWRITTEN, run, str(folder)],
        }
        print(f"CPU: {cpu}, {os.cpu_count()} cores; {n:,} digits PNGs (8x8)\n")
        print("| scorer | files/s (wall, start included) | seconds | peak RSS of its processes (MB) |")
        print("|---|---|---|---|")
        for i, (name, cmd) in enumerate(jobs.items()):
            wall, peak = measured([*cmd, str(root / f"out{i}.csv")])
            print(f"| {name} | {n / wall:,.0f} | {wall:.1f} | {peak:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
