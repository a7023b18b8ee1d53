"""Database connections: one place that opens psycopg2 connections and waits for the server."""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from upbit_core.settings import Settings

log = logging.getLogger(__name__)


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached; the message says how to fix it."""


def connect(
    settings: Settings,
    *,
    dbname: str | None = None,
    readonly: bool = False,
    application_name: str = "upbit-llm",
    connect_timeout: int = 5,
    options: str | None = None,
) -> psycopg2.extensions.connection:
    """Open a connection as the writer role (default) or the read-only role.

    `options` is libpq's start-up `options` (e.g. `-c statement_timeout=2000`); readers get theirs from
    `db.readonly`, the one read-only access path.
    """
    dsn = settings.readonly_dsn(dbname) if readonly else settings.database_dsn(dbname)
    extra: dict[str, Any] = {} if options is None else {"options": options}
    try:
        conn: psycopg2.extensions.connection = psycopg2.connect(
            dsn, connect_timeout=connect_timeout, application_name=application_name, **extra
        )
    except psycopg2.OperationalError as exc:
        raise DatabaseUnavailable(describe_connect_error(settings, exc, dbname)) from exc
    if readonly:
        conn.set_session(readonly=True)
    return conn


def describe_connect_error(settings: Settings, exc: BaseException, dbname: str | None = None) -> str:
    """A connection failure as one actionable sentence (no password in it)."""
    name = dbname or settings.timescaledb_dbname
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = f"{settings.timescaledb_host}:{settings.timescaledb_port}/{name}"
    if "does not exist" in text and "database" in text:
        fix = "run `upbit-llm migrate` (it creates the database)"
    else:
        fix = "start PostgreSQL with `upbit-llm services up`, or set TIMESCALEDB_HOST/TIMESCALEDB_PORT"
    return f"cannot connect to PostgreSQL at {where}: {text} — {fix}"


def wait_for_database(settings: Settings, *, timeout: float = 30.0, dbname: str | None = None) -> None:
    """Block until the server accepts connections (compose prestart, restarts), or raise."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        try:
            connect(settings, dbname=dbname or "postgres").close()
            return
        except DatabaseUnavailable:
            if time.monotonic() >= deadline:
                raise
            log.info("waiting for database host=%s port=%s", settings.timescaledb_host, settings.timescaledb_port)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def ensure_database(settings: Settings, dbname: str | None = None) -> bool:
    """Create the database if it is missing. Returns True when it was created."""
    name = dbname or settings.timescaledb_dbname
    conn = connect(settings, dbname="postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone():
                return False
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    finally:
        conn.close()


def drop_database(settings: Settings, dbname: str | None = None) -> None:
    """Drop a database (scratch and benchmark ones), ending its sessions first. Missing is fine."""
    name = dbname or settings.timescaledb_dbname
    conn = connect(settings, dbname="postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    finally:
        conn.close()
