"""Aggregate refresh and retention: the database upkeep the Celery beat schedule runs, in both modes."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import psycopg2.extensions

from db.migrate import current_mode
from upbit_llm.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefreshResult:
    mode: str
    buckets: int | None  # plain mode: buckets materialised; TimescaleDB reports no count
    seconds: float


def refresh_aggregates(conn: psycopg2.extensions.connection) -> RefreshResult:
    """Materialise every invalidated ohlcv_1m bucket (replays of old data included).

    TimescaleDB: refresh_continuous_aggregate over the whole range only processes invalidated regions, and must
    run outside a transaction block. Plain mode: refresh_ohlcv_1m() consumes the invalidation log.
    """
    mode = current_mode(conn)
    if mode is None:
        raise RuntimeError("database is not migrated — run `upbit-llm migrate`")
    started = time.monotonic()
    buckets: int | None = None
    previous = conn.autocommit
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            if mode == "timescaledb":
                cur.execute("CALL refresh_continuous_aggregate('ohlcv_1m', NULL, NULL)")
            else:
                cur.execute("SELECT refresh_ohlcv_1m()")
                row = cur.fetchone()
                buckets = int(row[0]) if row else 0
    finally:
        conn.autocommit = previous
    result = RefreshResult(mode=mode, buckets=buckets, seconds=time.monotonic() - started)
    log.info("aggregates refreshed mode=%s buckets=%s seconds=%.3f", mode, buckets, result.seconds)
    return result


def apply_retention(conn: psycopg2.extensions.connection, settings: Settings) -> int:
    """Plain mode: delete raw ticks written more than TICKER_RETENTION_DAYS ago (by arrival, not event time).

    TimescaleDB mode has a retention policy on chunk creation time instead; this returns 0 there.
    Aggregates are kept: they are small and outlive the raw ticks.
    """
    if current_mode(conn) != "postgres":
        return 0
    with conn.cursor() as cur:
        cur.execute(
            "DELETE FROM ticker_data WHERE ingested_at < now() - make_interval(days => %s)",
            (settings.ticker_retention_days,),
        )
        deleted = cur.rowcount
    conn.commit()
    log.info("retention applied deleted=%s days=%s", deleted, settings.ticker_retention_days)
    return deleted
