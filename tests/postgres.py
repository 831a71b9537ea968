"""A real PostgreSQL server for tests and benchmarks: Debian's binaries, a temporary data
directory, 127.0.0.1 on a free port, stopped by its PID file's owner (``pg_ctl stop``).

PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user
that Debian's package creates (``runuser``). Each test gets a schema of its own in one
database (``CREATE SCHEMA`` costs a millisecond, a database a hundred), named by the URL's
``search_path`` option, which every certkit connection then uses.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg

DATABASE = "certkit"
USER = "certkit"


def _bin_dir() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise RuntimeError(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): install "
            "Debian's postgresql package (./run test does)."
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only."""

    def __init__(self, *, durable: bool = False, max_connections: int = 300) -> None:
        self.bin = _bin_dir()
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0
        # As root, in /tmp itself: the postgres user must reach it (a TMPDIR may not let it).
        where = "/tmp" if self._as_postgres else None
        self.root = Path(tempfile.mkdtemp(prefix="certkit-pg-", dir=where))
        self.data = self.root / "data"
        self.durable = durable
        self.max_connections = max_connections

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> PostgresServer:
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-instructions",
        )
        settings = [
            "-h 127.0.0.1",
            f"-p {self.port}",
            f"-k {self.root}",
            f"-c max_connections={self.max_connections}",
        ]
        if not self.durable:  # tests: nothing needs to survive a crash of the machine
            settings += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            " ".join(settings),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "start",
        )
        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as con:
            con.execute(f"CREATE DATABASE {DATABASE}")
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def new_schema_url(self) -> str:
        """The URL of a new, empty schema of its own."""
        schema = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url, autocommit=True) as con:
            con.execute(f"CREATE SCHEMA {schema}")
        return f"{self.url}?options={quote(f'-csearch_path={schema}')}"
