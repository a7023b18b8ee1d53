"""A throwaway PostgreSQL cluster on a free port, for fault tests that stop and restart the database.

The machine's shared server (5432) is never restarted by tests: other suites run against it at the same time.
Uses the installed server binaries (initdb/pg_ctl); when running as root, runs them as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from db.migrate import migrate
from upbit_core.settings import Settings
from upbit_llm.services import free_port, wait_for_port


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


class PrivatePostgres:
    """initdb + pg_ctl start/stop/restart of a cluster on 127.0.0.1:<port>: trust auth, or password (SCRAM)
    auth for the superuser `postgres` when `init(password=...)`; extra server settings via `start(settings=)`."""

    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="upbit-llm-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str, timeout: float = 60) -> None:
        cmd = [*self._as_user, str(self.bindir / argv[0]), *argv[1:]]
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)

    def init(self, password: str | None = None) -> PrivatePostgres:
        if password is None:
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
            return self
        pwfile = self.root / "pwfile"
        pwfile.write_text(password + "\n")
        if self._as_user:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "scram-sha-256",
            "-U",
            "postgres",
            "--pwfile",
            str(pwfile),
            "--no-sync",
            "-E",
            "UTF8",
        )
        pwfile.unlink()
        return self

    def run_as_owner(self, argv: list[str], env: dict[str, str]) -> None:
        """Run a command as the cluster's OS user (e.g. an initdb.d script editing pg_hba.conf)."""
        cmd = [*self._as_user, "env", *(f"{k}={v}" for k, v in env.items()), *argv]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def start(self, settings: dict[str, str] | None = None) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        for key, value in (settings or {}).items():
            opts += f" -c {key}={value}"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "30", "start")
        if not wait_for_port("127.0.0.1", self.port, 30):
            raise RuntimeError(f"private PostgreSQL did not open port {self.port}; see {self.log}")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def restart(self, down_seconds: float = 0.0) -> None:
        import time

        self.stop("fast")
        time.sleep(down_seconds)
        self.start()

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def migrated_private_database(settings: Settings, dbname: str) -> Iterator[tuple[PrivatePostgres, Settings]]:
    """A private cluster with one migrated database: (the cluster, `settings` pointed at it). Skips the test when no
    server binaries can run here; the cluster is destroyed on exit."""
    try:
        pg = PrivatePostgres().init()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    try:
        pg.start()
        private = settings.model_copy(update={"timescaledb_port": pg.port, "timescaledb_dbname": dbname})
        migrate(private)
        yield pg, private
    finally:
        pg.destroy()
