"""Schemathesis over the server's own OpenAPI document: generated valid and invalid requests
for every operation, against a real server on 127.0.0.1."""

import os
import re
import subprocess
import sys
from pathlib import Path

from helpers import Server

EXAMPLES = int(os.environ.get("LAMINA_FUZZ_EXAMPLES", "50"))  # per operation and phase; docs/reliability.md runs more


def test_fuzz_the_openapi_document(digits_run, kws_run, fasttext_run, tmp_path):
    # One model per modality: the document's schema must hold for UINT8 images, INT16 audio and texts.
    server = Server(f"digits={digits_run}", f"kws={kws_run[0]}", f"topics={fasttext_run[0]}", "--max-body-mb", "1")
    try:
        env = dict(os.environ, SCHEMATHESIS_HOOKS="fuzz_checks", PYTHONPATH=str(Path(__file__).parent))
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "lamina_contract",
                "--mode",
                "all",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                "1",
                "--request-timeout",
                "20",
                "--suppress-health-check",
                "all",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
            cwd=tmp_path,
        )
    finally:
        assert server.stop() == 0
    out = r.stdout + r.stderr
    m = re.search(r"(\d+) generated, (\d+) passed", out)
    assert r.returncode == 0 and m, out[-4000:]
    generated, passed = map(int, m.groups())
    print(f"fuzzed {generated} cases, {passed} passed")
    assert generated == passed and generated >= 500, out[-2000:]
    assert "Tested: 11" in out  # every operation in the document (8, and 3 under /versions/{version})
