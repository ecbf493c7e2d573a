"""The `lamina` command line's arguments: every command, option and help text (no logic, no heavy imports)."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  lamina datasets make digits --output data/digits
  lamina train data/digits --output runs/digits
  lamina evaluate runs/digits data/digits --split test --json
  lamina predict runs/digits data/digits/test/3/0003.png --json
  lamina predict runs/digits photos/ --output preds.csv --shard 0/2
  lamina train my-config.yaml --set train.epochs=5 --seed 1
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lamina",
        description="Train, evaluate and use deep networks on labeled images, audio clips and texts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    _training_commands(sub)
    _model_commands(sub)
    _serve_command(sub)
    _deploy_command(sub)
    _runs_and_predict_commands(sub)
    return p


def _training_commands(sub) -> None:
    """datasets, train, validate, review, tune."""
    ds = sub.add_parser("datasets", help="make ready-to-train datasets")
    ds_sub = ds.add_subparsers(dest="action", metavar="ACTION", required=True)
    mk = ds_sub.add_parser("make", help="write a dataset in lamina's layout")
    mk.add_argument(
        "name",
        help="dataset name: digits, fashion-mnist, fortunes (a CSV: --output is the file), speech-commands-synth",
    )
    mk.add_argument("--output", required=True, help="folder to create")
    mk.add_argument("--seed", type=int, default=0, help="seed for the train/test split (default 0)")
    mk.add_argument(
        "--source",
        help="where a system dataset's files are (fashion-mnist: default /usr/share/datasets/fashion-mnist, "
        "an http(s) URL downloads them; fortunes: default /usr/share/games/fortunes)",
    )
    mk.add_argument("--overwrite", action="store_true", help="replace a non-empty --output")
    mk.add_argument("--json", action="store_true", help="print one JSON object")

    _train_command(sub)
    va = sub.add_parser("validate", help="check training data before training: bad files, balance, leakage")
    va.add_argument("source", help="data folder / CSV manifest or a YAML config")
    va.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a config value"
    )
    va.add_argument("--json", action="store_true", help="print one JSON object")
    va.add_argument(
        "--output", metavar="FILE", help="write every problem's full list here (JSON lines); the screen shows a few"
    )

    rv = sub.add_parser("review", help="find likely label errors: out-of-fold predictions and confident learning")
    rv.add_argument("source", help="data folder / CSV manifest or a YAML config")
    rv.add_argument(
        "--output", required=True, metavar="FILE", help="the CSV to write, one row per sample (and FILE.html)"
    )
    rv.add_argument(
        "--folds", type=int, default=5, help="models trained, each predicting the samples it did not see (default 5)"
    )
    rv.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="deal the samples into folds this many times, each sample's probabilities averaged: a better ranking for "
        "that many times the trainings (default 3)",
    )
    rv.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a config value"
    )
    rv.add_argument("--json", action="store_true", help="print one JSON object")

    tu = sub.add_parser("tune", help="hyperparameter search with Optuna over a config's search: section")
    tu.add_argument("config", help="YAML config with a search: section (dotted key -> loguniform|uniform|int|choice)")
    tu.add_argument(
        "--trials", type=int, required=True, help="finished trials the study should hold (shared by all processes)"
    )
    tu.add_argument(
        "--storage",
        help="Optuna storage URL shared by cooperating processes, e.g. sqlite:///study.db (default: in memory)",
    )
    tu.add_argument("--study", help="study name (default: the config file's name)")
    tu.add_argument("--output", help="folder for the trial run directories and best.yaml (default runs/tune-<study>)")
    tu.add_argument(
        "--pruner", choices=["median", "none"], default="median", help="stop weak trials early (default median)"
    )
    tu.add_argument("--json", action="store_true", help="print one JSON object")


def _train_command(sub) -> None:
    """lamina train: its arguments and the distributed options."""
    tr = sub.add_parser("train", help="train a model (data folder, CSV manifest, or YAML config)")
    tr.add_argument("source", help="data folder / CSV manifest (zero-config) or a YAML config file")
    tr.add_argument("--output", help="run directory to create (default runs/<data name>)")
    tr.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.epochs=5 (repeatable)",
    )
    tr.add_argument("--seed", type=int, help="seed for everything random (train.seed)")
    tr.add_argument("--device", choices=["auto", "cpu", "cuda"], help="train.device (default auto)")
    tr.add_argument("--skip-bad", action="store_true", help="skip bad files/rows, listing each in the run")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    tr.add_argument(
        "--resume", action="store_true", help="continue --output from its last checkpoint (the default when it has one)"
    )
    tr.add_argument(
        "--deterministic", action="store_true", help="deterministic kernels: bit-identical reruns and resumes"
    )
    tr.add_argument(
        "--tracking-uri", metavar="URI", help="also log the run to this MLflow tracking server (track.mlflow_uri)"
    )
    tr.add_argument(
        "--register",
        metavar="NAME",
        help="register the model package in MLflow's registry as NAME (track.registered_model)",
    )
    tr.add_argument(
        "--alias", metavar="ALIAS", help="set this alias (e.g. champion) on the new registered version (track.alias)"
    )
    tr.add_argument("--json", action="store_true", help="print one JSON object with the run's summary")
    dd = tr.add_argument_group("distributed (through torchrun: torch.distributed.run)")
    dd.add_argument("--nproc", type=int, metavar="N", help="processes on this machine (DDP; gloo on CPU, nccl on GPU)")
    dd.add_argument("--nnodes", type=int, metavar="M", help="machines taking part (run the same command on each)")
    dd.add_argument(
        "--rdzv-endpoint",
        metavar="HOST:PORT",
        help="rendezvous address, the same on every machine (needed with --nnodes > 1)",
    )
    dd.add_argument(
        "--max-restarts",
        type=int,
        default=0,
        metavar="K",
        help="restart the worker group up to K times after a worker dies; it resumes from the last checkpoint",
    )


def _model_commands(sub) -> None:
    """evaluate, export."""
    ev = sub.add_parser("evaluate", help="metrics of a trained model on labeled data")
    ev.add_argument("model", help="run directory or its model/ directory")
    ev.add_argument("data", help="labeled data (folder or CSV manifest)")
    ev.add_argument("--split", help="evaluate one split (train/val/test); default: all of the data")
    ev.add_argument("--skip-bad", action="store_true", help="skip bad files, listing each")
    ev.add_argument(
        "--report", metavar="FILE", help="also write a self-contained HTML report (curves, confusion matrix, mistakes)"
    )
    ev.add_argument("--json", action="store_true", help="print one JSON object")

    ex = sub.add_parser("export", help="write model.onnx into a model package and check parity")
    ex.add_argument("model", help="run directory or its model/ directory")
    ex.add_argument("--format", default="onnx", choices=["onnx"], help="export format (onnx)")
    ex.add_argument(
        "--quantize",
        choices=["int8"],
        help="also write model.int8.onnx (static int8, calibrated on the parity samples), "
        "kept only if val accuracy drops by at most 0.5 points; the server then runs it",
    )
    ex.add_argument("--json", action="store_true", help="print one JSON object")


def _serve_command(sub) -> None:
    """serve."""
    sv = sub.add_parser("serve", help="serve model packages over HTTP (ONNX Runtime)")
    sv.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="run directory or package (NAME=PATH to choose the name), or models:/NAME@ALIAS | models:/NAME/VERSION from MLflow",
    )
    sv.add_argument("--tracking-uri", metavar="URI", help="MLflow server for models:/ (default $MLFLOW_TRACKING_URI)")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    sv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    sv.add_argument(
        "--token",
        help="require 'Authorization: Bearer TOKEN' on every endpoint but health and the page "
        "(visible in ps: prefer --token-file or $LAMINA_TOKEN)",
    )
    sv.add_argument("--token-file", metavar="FILE", help="read the token from the first line of FILE")
    sv.add_argument(
        "--no-auth", action="store_true", help="serve without a token on a non-loopback --host (refused otherwise)"
    )
    sv.add_argument(
        "--allowed-hosts",
        metavar="NAMES",
        help="comma-separated Host header names accepted, '*' for any (default: loopback names when bound to loopback)",
    )
    sv.add_argument(
        "--max-image-pixels", type=int, default=50_000_000, help="largest width x height decoded (default 50,000,000)"
    )
    sv.add_argument("--max-audio-seconds", type=float, default=60.0, help="longest audio clip decoded (default 60)")
    sv.add_argument(
        "--max-connections", type=int, default=1000, help="open connections before new ones get 503 (default 1000)"
    )
    sv.add_argument(
        "--header-timeout-s", type=float, default=10.0, help="seconds to send the request headers (default 10)"
    )
    sv.add_argument(
        "--body-timeout-s", type=float, default=30.0, help="seconds to send the request body (default 30; then 408)"
    )
    sv.add_argument("--max-batch-size", type=int, default=32, help="samples per inference batch (default 32)")
    sv.add_argument(
        "--max-latency-ms",
        type=float,
        default=0.0,
        help="extra wait for a batch to fill, under load only (default 0: a batch is what is waiting when the model is free)",
    )
    sv.add_argument("--max-body-mb", type=float, default=10.0, help="largest request body in MiB (default 10)")
    sv.add_argument(
        "--explain",
        action="store_true",
        help="POST /explain/{model}: occlusion maps, under the same limits as inference (off by default)",
    )
    sv.add_argument("--max-queue", type=int, default=256, help="waiting requests per model before 503 (default 256)")
    sv.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads per model (default 0 = all cores)")


def _deploy_command(sub) -> None:
    """deploy kserve."""
    dp = sub.add_parser("deploy", help="write the manifests that deploy a model package")
    dp_sub = dp.add_subparsers(dest="target", metavar="TARGET", required=True)
    ks = dp_sub.add_parser("kserve", help="a KServe ServingRuntime and InferenceService for the package")
    ks.add_argument("model", help="run directory or its model/ directory")
    ks.add_argument("--image", required=True, help="the lamina image the runtime runs (make image builds it)")
    ks.add_argument("--name", help="the InferenceService's name (default: the run directory's name)")
    ks.add_argument(
        "--storage-uri",
        help="where KServe finds the package: s3://, gs://, pvc://... (default pvc://lamina-models/NAME)",
    )
    ks.add_argument("--output", help="folder for the two YAML files (default deploy/NAME)")
    ks.add_argument(
        "--no-auth", action="store_true", help="serve without a token (a mesh in front authenticates); default: "
        "the token from the Secret lamina-token"
    )  # fmt: skip
    ks.add_argument("--json", action="store_true", help="print one JSON object")


def _runs_and_predict_commands(sub) -> None:
    """runs ls|show|compare, explain, predict (one file or batch scoring)."""
    rn = sub.add_parser("runs", help="list, show and compare run directories")
    rn_sub = rn.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = rn_sub.add_parser("ls", help="table of the runs under a folder")
    ls.add_argument("root", nargs="?", default="runs", help="folder holding run directories (default runs)")
    ls.add_argument("--json", action="store_true", help="print one JSON object")
    sh = rn_sub.add_parser("show", help="a run's config, metrics and files")
    sh.add_argument("run", help="run directory")
    sh.add_argument("--json", action="store_true", help="print one JSON object")
    cp = rn_sub.add_parser("compare", help="config differences and metrics side by side")
    cp.add_argument("a", help="run directory")
    cp.add_argument("b", help="run directory")
    cp.add_argument("--json", action="store_true", help="print one JSON object")

    ex = sub.add_parser(
        "explain", help="what each answer rests on: gradient maps where the network has them, else occlusion"
    )
    ex.add_argument("model", help="run directory or its model/ directory")
    ex.add_argument("inputs", nargs="+", help="image or audio files, texts, or JSON rows for a table model")
    ex.add_argument(
        "--output", metavar="DIR", help="also draw each map over its input here (PNG, or HTML), with its JSON"
    )
    ex.add_argument(
        "--method",
        choices=("auto", "integrated-gradients", "grad-cam", "occlusion"),
        default="auto",
        help="auto (default): integrated gradients where the network has them (images, audio, texts), else "
        "occlusion (tables); grad-cam: convolutional image networks; occlusion runs the exported graph only",
    )
    ex.add_argument("--json", action="store_true", help="print one JSON object")

    pr = sub.add_parser(
        "predict", help="what the model says of inputs: top-k labels, the labels above their thresholds, or a number"
    )
    pr.add_argument("model", help="run directory or its model/ directory")
    pr.add_argument(
        "inputs",
        nargs="+",
        help="image or audio files, or texts for a text model; with --output: one folder, "
        "manifest (a 'path' column) or text table",
    )
    pr.add_argument("--top-k", type=int, default=5, help="labels per input (default 5)")
    pr.add_argument("--json", action="store_true", help="print one JSON object")
    pr.add_argument(
        "--output",
        help="batch scoring into this .csv, .jsonl or .parquet through ONNX Runtime: streamed, resumed "
        "by a rerun, a row per input (unreadable ones with their error)",
    )
    pr.add_argument(
        "--shard", help="with --output: score every N-th input from the I-th (I/N, 0 <= I < N) into NAME.I-of-N.EXT"
    )
    pr.add_argument("--column", help="with --output: the table's text (or path) column, when its name does not say so")
    pr.add_argument(
        "--batch-size", type=int, default=256, help="with --output: inputs per ONNX Runtime call (default 256)"
    )
