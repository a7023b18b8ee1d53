"""Fast test fill: write ticker dicts and a catalog straight into a database with the consumer's own writer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from db.connection import connect
from ingest.catalog import store_catalog
from ingest.writer import WriteResult, write_messages
from upbit_core.settings import Settings


def load_messages(settings: Settings, messages: Iterable[Mapping[str, Any]], *, batch_size: int = 20_000) -> int:
    """Validate and store DEFAULT-format (or SIMPLE) ticker dicts; returns rows newly stored.

    Uses `ingest.writer.write_messages`, so rows, identity (msg_id) and ticker_latest are exactly what the
    consumer would write. Raises `ingest.ticker.InvalidMessage` for a message the consumer would dead-letter.
    """
    conn = connect(settings, application_name="tests-load-messages")
    try:
        result: WriteResult = write_messages(conn, messages, batch_size=batch_size)
    finally:
        conn.close()
    return result.inserted


def load_catalog(settings: Settings, catalog: Sequence[Mapping[str, Any]]) -> int:
    """Store a `/v1/market/all?is_details=true`-shaped catalog in `markets`; returns the number of markets."""
    conn = connect(settings, application_name="tests-load-catalog")
    try:
        return store_catalog(conn, catalog).total
    finally:
        conn.close()


def query_rows(settings: Settings, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one read query on the settings' database and return every row (tests' assertions read through this)."""
    conn = connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, tuple(params) or None)
            return cur.fetchall()
    finally:
        conn.close()
