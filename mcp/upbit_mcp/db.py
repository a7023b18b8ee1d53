"""The MCP server's database access: `db.readonly`'s read-only pool, with failures told safely to MCP clients.

The pool, role policy, session settings and async use are `db.readonly.ReadOnlyPool`'s (one read-only access path
for every reader). This module adds what is the MCP server's own: the lifespan's open/close counting, and turning
database failures into `DatabaseError` messages without SQL or server text.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from db.connection import DatabaseUnavailable
from db.readonly import ReadOnlyPool as SharedReadOnlyPool
from upbit_core.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

APPLICATION_NAME = "upbit-llm-mcp"


class DatabaseError(RuntimeError):
    """A database failure, described without SQL or server text (safe to show to an MCP client)."""


def _connected(_conn: psycopg2.extensions.connection) -> None:
    """Nothing to read: borrowing a connection is the check."""


class ReadOnlyPool:
    """The MCP server's handle on a shared read-only pool; reopened after the last lifespan closed it."""

    def __init__(self, settings: Settings, *, maxconn: int = 4) -> None:
        self._settings = settings
        self._maxconn = maxconn
        self._lock = threading.Lock()
        self._users = 0
        self._pool = self._new_pool()

    def _new_pool(self) -> SharedReadOnlyPool:
        return SharedReadOnlyPool(self._settings, size=self._maxconn, application_name=APPLICATION_NAME)

    def open(self) -> None:
        """Register a user (the lifespan) and connect; a database that is down now is retried on the next call."""
        with self._lock:
            self._users += 1
        try:
            self.run_sync(_connected)
        except DatabaseError:
            log.warning("mcp database not reachable at start; tools will retry user=%s", self._settings.readonly_user)

    def close(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users <= 0:
                self._pool.close()
                self._pool = self._new_pool()
                self._users = 0

    @contextmanager
    def _told_safely(self) -> Iterator[None]:
        try:
            yield
        except DatabaseUnavailable as exc:
            log.warning("mcp cannot connect error=%s", exc)
            raise DatabaseError("the database is unavailable; try again shortly") from None
        except psycopg2.errors.QueryCanceled:
            raise DatabaseError("the query took too long and was cancelled; narrow the request") from None
        except psycopg2.Error as exc:
            log.warning("mcp query failed error=%s code=%s", type(exc).__name__, getattr(exc, "pgcode", None))
            raise DatabaseError("the database could not answer this request") from None

    def run_sync(self, fn: Callable[[psycopg2.extensions.connection], T]) -> T:
        with self._told_safely():
            return self._pool.run_sync(fn)

    async def run(self, fn: Callable[[psycopg2.extensions.connection], T]) -> T:
        """Run `fn(conn)` in a worker thread (psycopg2 blocks); at most `maxconn` at once, the rest wait their turn."""
        with self._told_safely():
            return await self._pool.run(fn)
