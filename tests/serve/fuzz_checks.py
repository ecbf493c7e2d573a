"""Schemathesis checks for tests/serve/test_fuzz.py (loaded through SCHEMATHESIS_HOOKS)."""

import re

import schemathesis

LEAKS = re.compile(r"Traceback|File \"|site-packages|/tmp/|/home/|/root/|/usr/|\.py\b")


@schemathesis.check
def lamina_contract(ctx, response, case):
    """No 5xx but 503; every error body is {"error": "..."} and shows no stack trace or server path."""
    status = response.status_code
    if status >= 500 and status != 503:
        raise AssertionError(f"server error {status}")
    text = response.text
    if LEAKS.search(text) and not case.path.startswith("/metrics"):
        raise AssertionError(f"the body shows internals: {text[:200]!r}")
    if status >= 400:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not (isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], str)):
            raise AssertionError(f"error body is not {{'error': str}}: {text[:200]!r}")
