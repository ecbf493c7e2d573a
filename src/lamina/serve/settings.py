"""Who may talk to the server: the token and the Host names it accepts, from the command line.

Safe by default: a server on a non-loopback address needs a token (or an explicit
``--no-auth``), an empty token is refused rather than read as "no auth", and a server on
loopback accepts only loopback Host names, so a DNS-rebinding page cannot reach it.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from lamina.common.errors import LaminaError
from lamina.common.runtime import serve_token_env
from lamina.serve.guard import LOOPBACK_HOSTS


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` serves this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve_token(host: str, token: str | None, token_file: str | None, no_auth: bool) -> str | None:
    """The bearer token to require (None: open), from --token, --token-file or $LAMINA_TOKEN.

    Raises:
        LaminaError: an empty token, two sources at once, an unreadable file, a token with
            --no-auth, or no token on a non-loopback address without --no-auth.
    """
    if token is not None and token_file is not None:
        raise LaminaError("serve: give --token or --token-file, not both")
    source = "--token"
    if token_file is not None:
        source = f"--token-file {token_file}"
        try:
            lines = Path(token_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise LaminaError(f"serve: cannot read --token-file {token_file} ({e})") from None
        token = lines[0] if lines else ""
    elif token is None and serve_token_env() is not None:
        token, source = serve_token_env(), "$LAMINA_TOKEN"
    if token is not None:
        token = token.strip()
        if not token:
            raise LaminaError(f"serve: {source} is empty; give a token, or --no-auth to serve without one")
        if no_auth:
            raise LaminaError(f"serve: {source} and --no-auth contradict each other")
    elif not is_loopback(host) and not no_auth:
        raise LaminaError(
            f"serve: --host {host} is reachable from other machines and no token is set; give --token-file FILE "
            "(or $LAMINA_TOKEN), or --no-auth to serve without authentication"
        )
    return token


def allowed_hosts(host: str, names: str | None) -> tuple[str, ...] | None:
    """The Host header names to accept (None: any): --allowed-hosts, else loopback names when bound to loopback."""
    if names is not None:
        parts = tuple(n.strip().lower() for n in names.split(",") if n.strip())
        if not parts:
            raise LaminaError("serve: --allowed-hosts is empty; give names, or '*' for any")
        return None if "*" in parts else parts
    return LOOPBACK_HOSTS if is_loopback(host) else None
