"""Aggregate refresh and retention: the database upkeep the Celery beat schedule runs, in both modes."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import psycopg2.extensions

from db.migrate import current_mode
from upbit_core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefreshResult:
    mode: str
    buckets: int | None  # plain mode: buckets materialised; TimescaleDB reports no count
    seconds: float


def refresh_aggregates(conn: psycopg2.extensions.connection) -> RefreshResult:
    """Materialise every invalidated ohlcv_1m bucket (replays of old data included).

    TimescaleDB: refresh_continuous_aggregate over everything before the current minute only processes invalidated
    regions, and must run outside a transaction block. The window ends at the current minute: refreshing the open
    minute would move the cagg watermark past it, and the fills that arrive later in that minute would stay out of
    the real-time results until the next refresh. Where the server supports it (2.19+ batches refreshes, newest
    batch first) the refresh is one atomic pass: batched, a reader in the middle sees the newest batch materialized
    and the watermark above older batches that are not yet — whole minutes missing. Plain mode:
    refresh_ohlcv_1m() consumes the invalidation log.
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
                cur.execute(
                    "SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'refresh_continuous_aggregate' "
                    "AND 'options' = ANY (proargnames))"
                )
                atomic = ", options => '{\"buckets_per_batch\": 0}'" if cur.fetchone()[0] else ""  # type: ignore[index]
                cur.execute(f"CALL refresh_continuous_aggregate('ohlcv_1m', NULL, date_trunc('minute', now()){atomic})")
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


# (table, time column, extra condition, setting with the days to keep). Open gaps (gap_end NULL) are kept whatever
# their age: analytics still needs to know the data is missing.
_PRUNED: tuple[tuple[str, str, str, str], ...] = (
    ("dead_letters", "created_at", "", "dead_letter_retention_days"),
    ("alert_deliveries", "created_at", "", "alert_delivery_retention_days"),
    ("ingest_gaps", "detected_at", "AND gap_end IS NOT NULL", "ingest_gap_retention_days"),
    ("llm_calls", "created_at", "", "llm_call_retention_days"),
)
PRUNE_BATCH_ROWS = 10_000  # one short transaction per batch: no long lock on a table the live path writes


def prune_operational_logs(conn: psycopg2.extensions.connection, settings: Settings) -> dict[str, int]:
    """Delete rows older than their retention setting from dead_letters, alert_deliveries, (closed) ingest_gaps and
    llm_calls, in batches; returns rows deleted per table. Safe to run any number of times, concurrently."""
    deleted: dict[str, int] = {}
    for table, column, extra, setting in _PRUNED:
        days = int(getattr(settings, setting))
        total = 0
        while True:
            with conn.cursor() as cur:
                # Constant table/column names from _PRUNED; the age is a parameter.
                cur.execute(
                    f"DELETE FROM {table} WHERE ctid = ANY (ARRAY(SELECT ctid FROM {table} "  # noqa: S608
                    f"WHERE {column} < now() - make_interval(days => %s) {extra} LIMIT %s))",
                    (days, PRUNE_BATCH_ROWS),
                )
                count = cur.rowcount
            conn.commit()
            total += count
            if count < PRUNE_BATCH_ROWS:
                break
        deleted[table] = total
    log.info("operational logs pruned %s", " ".join(f"{t}={n}" for t, n in deleted.items()))
    return deleted


def prune_superseded_rest_minutes(conn: psycopg2.extensions.connection, *, fetched_within_days: int = 7) -> int:
    """Delete REST minutes (rest_candles_1m) for which fills arrived after the fetch (late data, replays): while the
    fills exist the combined view ignores them, but once retention drops the raw fills they would count twice next
    to the materialised minute. Only recently fetched rows are checked (fills arrive soon after, if at all)."""
    with conn.cursor() as cur:
        cur.execute(
            "DELETE FROM rest_candles_1m r WHERE r.fetched_at > now() - make_interval(days => %s) AND EXISTS ("
            " SELECT 1 FROM ticker_data t WHERE t.code = r.code AND t.time >= r.bucket"
            " AND t.time < r.bucket + INTERVAL '1 minute')",
            (fetched_within_days,),
        )
        deleted = cur.rowcount
    conn.commit()
    return max(deleted, 0)
