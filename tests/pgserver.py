"""A real PostgreSQL 15 (with pgvector) on loopback for the tests: a throwaway cluster in a
temporary folder, started once per session (`make postgres` installs both; when they are
missing the tests fail, never skip)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

PG_BIN = Path(os.environ.get("KB_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its programs as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data: Path | None = None, options: str = ""):
        if not (PG_BIN / "postgres").exists():
            raise RuntimeError(f"PostgreSQL is not installed at {PG_BIN}: run make postgres")
        self.folder = Path(tempfile.mkdtemp(prefix="kb-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self.port = _port()
        self.options = options  # more `-c name=value` for the server (benchmarks give it more memory)
        self.data = data or self.folder / "data"
        if data is None:
            subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "kb", "--auth=trust",
                                         "-E", "UTF8", "--no-sync"]), check=True, capture_output=True)
        self.start()
        self.url = f"postgresql://kb@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 "
                   f"{self.options}")
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                                     str(self.folder / "log"), "-w", "start"]), check=True, capture_output=True)

    def halt(self) -> None:
        """Stop the server (its data stays: `start` brings it back)."""
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
                       check=True, capture_output=True)

    def database(self) -> str:
        """The URL of a new, empty database with pgvector."""
        import psycopg

        name = "kb_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        url = f"postgresql://kb@127.0.0.1:{self.port}/{name}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION vector")
        return url

    def replica(self) -> "Server":
        """A streaming replica of this server (pg_basebackup -R), started on a port of its own."""
        folder = Path(tempfile.mkdtemp(prefix="kb-pg-replica-"))
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres")
        subprocess.run(_as_postgres([str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "kb",
                                     "-D", str(folder / "data"), "-R", "-X", "stream", "-c", "fast", "--no-sync"]),
                       check=True, capture_output=True)
        return Server(data=folder / "data")

    def url_of(self, database_url: str) -> str:
        """The same database on this server (a replica holds the primary's databases)."""
        return f"postgresql://kb@127.0.0.1:{self.port}/{database_url.rsplit('/', 1)[1]}"

    def stop(self) -> None:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.data.parent != self.folder:  # a replica's data folder
            shutil.rmtree(self.data.parent, ignore_errors=True)
