"""Shared fixtures: a private cache directory, the digits dataset and run, small image folders."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from helpers import make_image_folders, run_cli

# Every test run gets its own decoded-data cache, so tests never read a developer's cache.
os.environ.setdefault("LAMINA_CACHE_DIR", tempfile.mkdtemp(prefix="lamina-test-cache-"))
os.environ["LAMINA_PLAIN"] = "1"


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> Path:
    from lamina.data.makers import make_digits

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
