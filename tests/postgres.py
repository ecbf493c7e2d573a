"""A real PostgreSQL server for the tests: initdb and pg_ctl (Debian's postgresql) in a temporary folder, on a free
port of 127.0.0.1, run as the unprivileged user `nobody` (the server refuses root); stopped and removed after."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from helpers import free_port

USER = "nobody"  # an existing unprivileged account: the tests create none


def _bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}")) or [Path(shutil.which(name) or name)]
    return str(found[-1])


class Postgres:
    """``with Postgres() as pg: pg.url("tune")``: a server whose databases are created on demand."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="lamina-pg-"))
        self.root.chmod(0o755)  # the server's user must reach its folders
        self.data, self.sockets, self.port = self.root / "data", self.root / "sockets", free_port()
        for d in (self.data, self.sockets):
            d.mkdir()
            shutil.chown(d, USER)
        try:
            self._as_user(_bin("initdb"), "-D", self.data, "-U", "lamina", "--auth=trust", "-E", "UTF8")
            options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
            self._as_user(_bin("pg_ctl"), "-D", self.data, "-o", options, "-l", self.data / "server.log", "-w", "start")
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _as_user(self, *cmd) -> None:
        r = subprocess.run(["runuser", "-u", USER, "--", *map(str, cmd)], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{Path(str(cmd[0])).name} failed: {r.stderr[-2000:]}")

    def url(self, database: str, driver: str = "postgresql") -> str:
        """A new database's URL (``driver``: e.g. postgresql+psycopg2)."""
        env = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(self.port), PGUSER="lamina")
        subprocess.run([_bin("createdb"), database], env=env, check=True, capture_output=True)
        return f"{driver}://lamina@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        try:
            self._as_user(_bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Postgres":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
