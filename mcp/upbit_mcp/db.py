"""The MCP server's database access: a small pool of read-only-role connections, used from worker threads."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread
import psycopg2
import psycopg2.extensions
import psycopg2.pool

from upbit_core.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class DatabaseError(RuntimeError):
    """A database failure, described without SQL or server text (safe to show to an MCP client)."""


class ReadOnlyPool:
    """Connections as Settings.readonly_user, autocommit, read-only, with the role's statement timeout enforced."""

    def __init__(self, settings: Settings, *, minconn: int = 1, maxconn: int = 4) -> None:
        self._settings = settings
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._minconn, self._maxconn = minconn, maxconn
        self._lock = threading.Lock()
        self._users = 0
        self._limiter: anyio.CapacityLimiter | None = None

    def open(self) -> None:
        """Register a user (the lifespan) and connect; a database that is down now is retried on the next call."""
        with self._lock:
            self._users += 1
        try:
            self._ensure()
        except DatabaseError:
            log.warning("mcp database not reachable at start; tools will retry user=%s", self._settings.readonly_user)

    def _ensure(self) -> psycopg2.pool.ThreadedConnectionPool:
        with self._lock:
            if self._pool is not None:
                return self._pool
            timeout = int(self._settings.readonly_statement_timeout_ms)
            try:
                self._pool = psycopg2.pool.ThreadedConnectionPool(
                    self._minconn,
                    self._maxconn,
                    self._settings.readonly_dsn(),
                    connect_timeout=5,
                    application_name="upbit-llm-mcp",
                    # The role carries the same settings; repeating them here covers a role created by hand.
                    options=f"-c statement_timeout={timeout} -c default_transaction_read_only=on -c jit=off",
                )
            except psycopg2.Error as exc:
                log.warning("mcp cannot connect error=%s", type(exc).__name__)
                raise DatabaseError("the database is unavailable; try again shortly") from None
            log.info("mcp read-only pool opened user=%s max=%s", self._settings.readonly_user, self._maxconn)
            return self._pool

    def close(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users <= 0 and self._pool is not None:
                self._pool.closeall()
                self._pool = None
                self._users = 0

    def run_sync(self, fn: Callable[[psycopg2.extensions.connection], T]) -> T:
        pool = self._ensure()
        try:
            conn = pool.getconn()
        except psycopg2.Error as exc:
            log.warning("mcp cannot connect error=%s", type(exc).__name__)
            raise DatabaseError("the database is unavailable; try again shortly") from None
        broken = False
        try:
            conn.autocommit = True
            return fn(conn)
        except psycopg2.errors.QueryCanceled:
            raise DatabaseError("the query took too long and was cancelled; narrow the request") from None
        except psycopg2.Error as exc:
            broken = conn.closed != 0 or isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError)
            log.warning("mcp query failed error=%s code=%s", type(exc).__name__, getattr(exc, "pgcode", None))
            raise DatabaseError("the database could not answer this request") from None
        finally:
            pool.putconn(conn, close=broken or conn.closed != 0)

    async def run(self, fn: Callable[[psycopg2.extensions.connection], T]) -> T:
        """Run `fn(conn)` in a worker thread (psycopg2 blocks) and return its result."""
        # At most `maxconn` calls run at once (the pool's size); the rest wait their turn instead of failing.
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._maxconn)
        return await anyio.to_thread.run_sync(self.run_sync, fn, limiter=self._limiter)
