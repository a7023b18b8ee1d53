"""The dashboard's database access: a small pool of read-only connections (the reader role when it exists)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg2
import psycopg2.extensions

from db.connection import DatabaseUnavailable, connect
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

APPLICATION_NAME = "upbit-llm-web"


@dataclass(frozen=True)
class RoleChoice:
    """Which role the dashboard reads with, and why (shown on /api/health)."""

    role: str
    readonly_role: bool
    reason: str


# What the analytics layer reads; a reader role created before these tables existed may lack their grants.
READ_TABLES = ("markets", "ticker_latest", "ohlcv_1m", "anomalies", "llm_results", "ingest_gaps")


def _is_missing_role(exc: BaseException) -> bool:
    text = str(exc)
    return (
        ("role" in text and "does not exist" in text)
        or "password authentication failed" in text
        or "cannot read" in text
        or "permission denied" in text
    )


def _missing_grants(conn: psycopg2.extensions.connection) -> list[str]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT t FROM unnest(%s::text[]) AS t "
            "WHERE to_regclass(t) IS NOT NULL AND NOT has_table_privilege(current_user, t, 'SELECT')",
            (list(READ_TABLES),),
        )
        missing = [r[0] for r in cur.fetchall()]
    conn.rollback()
    return missing


def writer_fallback_allowed(settings: Settings) -> bool:
    """Reading as the writer role is a development convenience only, and only when asked for."""
    return settings.environment == "development" and settings.readonly_fallback_to_writer


class ReadPool:
    """Up to `size` read-only connections, opened on demand and reused.

    Connections use the read-only role (`READONLY_USER`, created by the migrations). When that role is unusable
    (missing, wrong password, missing grants) the pool fails with the fix — it never reads as the writer role,
    which in compose is the database superuser — unless a developer asked for it explicitly
    (`ENVIRONMENT=development` and `READONLY_FALLBACK_TO_WRITER=true`): then it uses the writer role in a
    read-only session and logs it once.
    """

    def __init__(self, settings: Settings, *, size: int = 4) -> None:
        self._settings = settings
        self._size = size
        self._idle: queue.LifoQueue[psycopg2.extensions.connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._choice: RoleChoice | None = None
        self._closed = False

    @property
    def role(self) -> RoleChoice:
        if self._choice is None:
            with self.connection():
                pass
        assert self._choice is not None
        return self._choice

    def role_if_known(self) -> RoleChoice | None:
        return self._choice

    def _open(self) -> psycopg2.extensions.connection:
        settings = self._settings
        with self._lock:
            choice = self._choice
        if choice is None or choice.readonly_role:
            try:
                conn = connect(settings, readonly=True, application_name=APPLICATION_NAME)
                if choice is None and (missing := _missing_grants(conn)):
                    conn.close()
                    raise DatabaseUnavailable(f"role cannot read {', '.join(missing)}")
                if choice is None:
                    with self._lock:
                        self._choice = RoleChoice(settings.readonly_user, True, "read-only role")
                    log.info("dashboard database role=%s readonly_role=true", settings.readonly_user)
                return self._prepare(conn)
            except DatabaseUnavailable as exc:
                if choice is not None or not _is_missing_role(exc.__cause__ or exc):
                    raise
                if not writer_fallback_allowed(settings):
                    log.error(
                        "dashboard cannot read as the read-only role readonly_user=%s error=%s fix=%s",
                        settings.readonly_user,
                        exc,
                        "run `upbit-llm migrate` with READONLY_PASSWORD set, and give the dashboard the same "
                        "READONLY_USER/READONLY_PASSWORD",
                    )
                    raise DatabaseUnavailable(
                        f"read-only role {settings.readonly_user!r} is not usable ({exc}); run `upbit-llm migrate` "
                        "and check READONLY_USER/READONLY_PASSWORD (the dashboard never reads as the writer role)"
                    ) from exc
                reason = f"read-only role {settings.readonly_user!r} is not usable; using the writer role read-only"
                log.warning(
                    "dashboard falling back to writer role readonly_user=%s reason=%s fix=%s",
                    settings.readonly_user,
                    exc,
                    "run `upbit-llm migrate` (it creates the read-only role)",
                )
                with self._lock:
                    self._choice = RoleChoice(settings.timescaledb_user, False, reason)
        conn = connect(settings, application_name=APPLICATION_NAME)
        conn.set_session(readonly=True)
        return self._prepare(conn)

    def _prepare(self, conn: psycopg2.extensions.connection) -> psycopg2.extensions.connection:
        # A runaway query must not pin a dashboard worker thread; the analytics layer reads aggregates.
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = %s", (int(self._settings.readonly_statement_timeout_ms),))
            cur.execute("SET TIME ZONE 'UTC'")
        conn.autocommit = False
        conn.set_session(readonly=True)
        return conn

    @contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """Borrow a connection; it is rolled back (ending the read transaction) when returned."""
        if self._closed:
            raise DatabaseUnavailable("the dashboard is shutting down")
        self._slots.acquire()
        conn: psycopg2.extensions.connection | None = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._open()
            if conn.closed:
                conn = self._open()
            yield conn
        except psycopg2.OperationalError:
            # The server closed or reset the connection: drop it, the next borrower opens a fresh one.
            if conn is not None and not conn.closed:
                conn.close()
            conn = None
            raise
        finally:
            if conn is not None:
                try:
                    if not conn.closed:
                        conn.rollback()
                        self._idle.put(conn)
                except psycopg2.Error:
                    conn.close()
            self._slots.release()

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return
            conn.close()
