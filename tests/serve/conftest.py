"""A real `lamina serve` process on 127.0.0.1 for the serving tests."""

from __future__ import annotations

import pytest

from helpers import Server


@pytest.fixture(scope="module")
def server(digits_run):
    s = Server(f"digits={digits_run}", "--max-body-mb", "1")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def token_server(digits_run):
    s = Server(digits_run, "--token", "s3cret")
    yield s
    s.stop()
