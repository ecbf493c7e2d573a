"""Shared fixtures: a private cache directory, the digits dataset and run, small image folders."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from helpers import make_image_folders, run_cli, topic_texts, write_text_csv

# Every test run gets its own decoded-data cache, so tests never read a developer's cache.
os.environ.setdefault("LAMINA_CACHE_DIR", tempfile.mkdtemp(prefix="lamina-test-cache-"))
os.environ["LAMINA_PLAIN"] = "1"


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> Path:
    from lamina.datasets.makers import make_digits

    out = tmp_path_factory.mktemp("data") / "digits"
    make_digits(out)
    return out


@pytest.fixture(scope="session")
def digits_run(digits, tmp_path_factory) -> Path:
    """A zero-config run on digits through the real CLI (trained once per test session)."""
    import json

    out = tmp_path_factory.mktemp("runs") / "digits"
    r = run_cli("train", digits, "--output", out, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)  # stdout is exactly one JSON object
    assert summary["run"] == str(out)
    return out


@pytest.fixture
def small_folders(tmp_path) -> Path:
    return make_image_folders(tmp_path / "imgs")


@pytest.fixture(scope="session")
def kws(tmp_path_factory):
    """A small synthesized Speech Commands set (espeak-ng, flite, festival)."""
    from lamina.datasets.speech_synth import make_speech_commands_synth

    out = tmp_path_factory.mktemp("kws") / "data"
    make_speech_commands_synth(out, seed=0, per_voice=2, voices_per_split=4, boost=1)
    return out


@pytest.fixture(scope="session")
def kws_run(kws, tmp_path_factory):
    """A small dscnn (the from-scratch model) trained on ``kws``: (run directory, the --json summary)."""
    import json

    out = tmp_path_factory.mktemp("runs") / "kws"
    r = run_cli(
        "train",
        kws,
        "--output",
        out,
        "--json",
        "--set",
        "model.name=dscnn",
        "--set",
        "train.epochs=15",
        "--set",
        "train.batch_size=16",
        "--set",
        "model.width=32",
        "--set",
        "model.depth=2",
    )
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout)


@pytest.fixture(scope="session")
def kws_embedding_run(kws, tmp_path_factory):
    """Zero-config training on ``kws`` (the speech_embedding, fine-tuned): (run directory, the --json summary)."""
    import json

    out = tmp_path_factory.mktemp("runs") / "kws-embedding"
    r = run_cli("train", kws, "--output", out, "--json")
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    return write_text_csv(tmp_path_factory.mktemp("text") / "topics.csv", topic_texts(per_class=40))


@pytest.fixture(scope="session")
def fasttext_run(corpus, tmp_path_factory):
    """A fasttext model trained on ``corpus``: (run directory, the --json summary)."""
    import json

    out = tmp_path_factory.mktemp("runs") / "topics"
    r = run_cli(
        "train",
        corpus,
        "--output",
        out,
        "--json",
        "--set",
        "model.name=fasttext",
        "--set",
        "train.epochs=15",
        "--set",
        "train.batch_size=16",
    )
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout)


@pytest.fixture(scope="session")
def photos(tmp_path_factory):
    """A few-shot photo-like set: 12 Noto Color Emoji glyphs (RGBA, 109 px) per Unicode group, 9 groups."""
    from lamina.datasets.emoji import make_emoji

    out = tmp_path_factory.mktemp("photos") / "emoji"
    make_emoji(out, seed=0, per_class=12)
    return out


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server on 127.0.0.1 for the session (tests/postgres.py), stopped and removed after."""
    from postgres import Postgres

    with Postgres() as pg:
        yield pg


@pytest.fixture(scope="session")
def spark():
    """A local Spark session (local[2], Java 17, on 127.0.0.1) shared by the tests that score through Spark."""
    import os
    import sys

    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # read when the JVM starts its Python workers
    session = (
        SparkSession.builder.master("local[2]")
        .appName("lamina-tests")
        .config("spark.pyspark.python", sys.executable)  # Spark's Python workers: this venv, not the first python3
        .config("spark.pyspark.driver.python", sys.executable)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def listings_table(tmp_path_factory):
    """A table with an image column (listings whose photo carries the label)."""
    from helpers import write_picture_table

    return write_picture_table(tmp_path_factory.mktemp("listings"), rows=48)


@pytest.fixture(scope="session")
def wine_table(tmp_path_factory):
    """A table of numbers and categories (scikit-learn's wine, with the columns a user's table has)."""
    from helpers import write_wine_table

    return write_wine_table(tmp_path_factory.mktemp("wine") / "wine.csv")
