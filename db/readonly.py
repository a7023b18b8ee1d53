"""The one read-only access path: a pool of connections as the read-only role, used by every reader.

The MCP server, the dashboard, the CLI listings (`upbit-llm anomalies`, `costs`, `tokens`) and the demo's status
line all read through `ReadOnlyPool`. It owns the policy they share:

- **Role.** Connections log in as `READONLY_USER` (created by `upbit-llm migrate`, SELECT only). When that role is
  unusable (missing, wrong password, missing grants) the pool fails with the fix. It never reads as the writer
  role — in compose the writer is the database superuser — unless a developer asked for it explicitly with
  `ENVIRONMENT=development` and `READONLY_FALLBACK_TO_WRITER=true`; then it uses the writer role in a read-only
  session and logs that once.
- **Session.** Every session is read-only (`default_transaction_read_only`), has `READONLY_STATEMENT_TIMEOUT_MS` as
  its statement timeout (a runaway query must not pin a worker thread), `TimeZone=UTC` and no JIT (the analytics
  queries are short; JIT compile time would dominate them). These ride in the start-up packet, so a role created
  by hand without the role-level settings gets them too, at no extra round trip.
- **Use.** `connection()` lends a connection for one read transaction (rolled back when returned, so a reader sees
  one snapshot); `run_sync(fn)` runs `fn(conn)` on one; `await run(fn)` does the same in a worker thread
  (psycopg2 blocks), at most `size` at a time so waiting calls queue instead of failing.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import psycopg2
import psycopg2.extensions

from db.connection import DatabaseUnavailable, connect
from upbit_core.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# What the analytics layer reads; a reader role created before these tables existed may lack their grants.
READ_TABLES = ("markets", "ticker_latest", "ohlcv_1m", "anomalies", "llm_results", "ingest_gaps")

MIGRATE_FIX = (
    "run `upbit-llm migrate` (it creates the read-only role and its grants) and give readers the same "
    "READONLY_USER/READONLY_PASSWORD"
)


@dataclass(frozen=True)
class RoleChoice:
    """Which role the pool reads with, and why (the dashboard shows it on /api/health)."""

    role: str
    readonly_role: bool
    reason: str


def writer_fallback_allowed(settings: Settings) -> bool:
    """Reading as the writer role is a development convenience only, and only when asked for."""
    return settings.environment == "development" and settings.readonly_fallback_to_writer


def session_options(settings: Settings) -> str:
    """The libpq `options` every read-only session starts with."""
    timeout = int(settings.readonly_statement_timeout_ms)
    return f"-c statement_timeout={timeout} -c default_transaction_read_only=on -c TimeZone=UTC -c jit=off"


def _is_unusable_role(exc: BaseException) -> bool:
    """The failure is about the reader role itself (not a server that is down)."""
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


class ReadOnlyPool:
    """Up to `size` read-only connections, opened on demand and reused (thread-safe)."""

    def __init__(self, settings: Settings, *, size: int = 4, application_name: str = "upbit-llm-read") -> None:
        self._settings = settings
        self._size = max(1, size)
        self._application_name = application_name
        self._idle: queue.LifoQueue[psycopg2.extensions.connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(self._size)
        self._lock = threading.Lock()
        self._choice: RoleChoice | None = None
        self._closed = False
        # One semaphore per event loop (an asyncio.Semaphore belongs to the loop that first waits on it).
        self._async_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def size(self) -> int:
        return self._size

    @property
    def role(self) -> RoleChoice:
        """The role in use, connecting once to find out if no connection was opened yet."""
        if self._choice is None:
            with self.connection():
                pass
        assert self._choice is not None
        return self._choice

    def role_if_known(self) -> RoleChoice | None:
        return self._choice

    # --- opening ------------------------------------------------------------------------------------
    def _connect(self, *, readonly_role: bool) -> psycopg2.extensions.connection:
        return connect(
            self._settings,
            readonly=readonly_role,
            application_name=self._application_name,
            options=session_options(self._settings),
        )

    def _open(self) -> psycopg2.extensions.connection:
        settings = self._settings
        with self._lock:
            choice = self._choice
        if choice is not None and not choice.readonly_role:
            return self._writer_read_only()
        try:
            conn = self._connect(readonly_role=True)
            if choice is None and (missing := _missing_grants(conn)):
                conn.close()
                raise DatabaseUnavailable(f"role {settings.readonly_user!r} cannot read {', '.join(missing)}")
        except DatabaseUnavailable as exc:
            if choice is not None or not _is_unusable_role(exc.__cause__ or exc):
                raise
            if not writer_fallback_allowed(settings):
                log.error(
                    "cannot read as the read-only role readonly_user=%s application=%s error=%s fix=%s",
                    settings.readonly_user,
                    self._application_name,
                    exc,
                    MIGRATE_FIX,
                )
                raise DatabaseUnavailable(
                    f"read-only role {settings.readonly_user!r} is not usable ({exc}); {MIGRATE_FIX} (the platform "
                    "never reads as the writer role except with ENVIRONMENT=development and "
                    "READONLY_FALLBACK_TO_WRITER=true)"
                ) from exc
            log.warning(
                "falling back to writer role (read-only session) readonly_user=%s application=%s reason=%s fix=%s",
                settings.readonly_user,
                self._application_name,
                exc,
                MIGRATE_FIX,
            )
            with self._lock:
                self._choice = RoleChoice(
                    settings.timescaledb_user,
                    False,
                    f"read-only role {settings.readonly_user!r} is not usable; using the writer role read-only "
                    "(READONLY_FALLBACK_TO_WRITER, development)",
                )
            return self._writer_read_only()
        if choice is None:
            with self._lock:
                self._choice = RoleChoice(settings.readonly_user, True, "read-only role")
            log.info("read-only pool role=%s application=%s", settings.readonly_user, self._application_name)
        return conn

    def _writer_read_only(self) -> psycopg2.extensions.connection:
        conn = self._connect(readonly_role=False)
        conn.set_session(readonly=True)
        return conn

    # --- use ----------------------------------------------------------------------------------------
    @contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """Borrow a connection for one read transaction; it is rolled back when returned.

        Raises DatabaseUnavailable when no connection can be opened (the message says how to fix it); errors of
        the caller's queries propagate unchanged (psycopg2 errors), and a broken connection is dropped.
        """
        if self._closed:
            raise DatabaseUnavailable("the read-only pool is closed (shutting down)")
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
        finally:
            if conn is not None:
                self._give_back(conn)
            self._slots.release()

    def _give_back(self, conn: psycopg2.extensions.connection) -> None:
        # Ending the transaction also tells whether the connection survived (a reset server fails here).
        try:
            if not conn.closed:
                conn.rollback()
        except psycopg2.Error:
            conn.close()
        if conn.closed or self._closed:
            conn.close()
            return
        self._idle.put(conn)

    def run_sync(self, fn: Callable[[psycopg2.extensions.connection], T]) -> T:
        """`fn(conn)` in one read transaction on a pooled connection."""
        with self.connection() as conn:
            return fn(conn)

    async def run(self, fn: Callable[[psycopg2.extensions.connection], T]) -> T:
        """`run_sync(fn)` in a worker thread; at most `size` calls hold a thread at once, the rest wait here."""
        loop = asyncio.get_running_loop()
        with self._lock:
            slots = self._async_slots.get(loop)
            if slots is None:
                slots = self._async_slots[loop] = asyncio.Semaphore(self._size)
        async with slots:
            return await asyncio.to_thread(self.run_sync, fn)

    def close(self) -> None:
        """Close idle connections; connections lent out are closed when returned."""
        self._closed = True
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return
            conn.close()
