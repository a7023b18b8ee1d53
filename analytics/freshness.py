"""Data freshness: the event time results are as of, the lag behind the wall clock, and known ingest gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg2.extensions

from analytics.models import Freshness, Gap
from analytics.series import rest_minutes_in

# Upbit's busiest markets trade every second; two minutes without any ticker means the feed is behind.
STALE_AFTER_SECONDS = 120.0
MAX_GAPS = 3


def utcnow() -> datetime:
    return datetime.now(UTC)


def latest_event_time(
    conn: psycopg2.extensions.connection, *, quote: str | None = None, market: str | None = None
) -> tuple[datetime | None, int]:
    """Newest event time in ticker_latest (for one market, one quote, or all) and how many markets report."""
    with conn.cursor() as cur:
        if market is not None:
            cur.execute("SELECT max(time), count(*) FROM ticker_latest WHERE code = %s", (market,))
        elif quote is not None:
            cur.execute("SELECT max(time), count(*) FROM ticker_latest WHERE code LIKE %s", (quote + "-%",))
        else:
            cur.execute("SELECT max(time), count(*) FROM ticker_latest")
        row = cur.fetchone()
    if row is None:
        return None, 0
    return row[0], int(row[1] or 0)


def freshness(
    conn: psycopg2.extensions.connection,
    *,
    quote: str | None = None,
    market: str | None = None,
    as_of: datetime | None = None,
    reporting: int | None = None,
    now: datetime | None = None,
) -> Freshness:
    """Freshness of the data behind a result; pass `as_of` when the caller already knows it."""
    if as_of is None or reporting is None:
        as_of, reporting = latest_event_time(conn, quote=quote, market=market)
    now = now or utcnow()
    lag = (now - as_of).total_seconds() if as_of is not None else None
    horizon = (as_of or now) - timedelta(hours=24)
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT code, gap_start, gap_end, reason, count(*) OVER (), count(*) FILTER (WHERE gap_end IS NULL) OVER (),
                   heal_status
            FROM ingest_gaps
            WHERE (gap_end IS NULL OR gap_end >= %s) AND (code IS NULL OR %s::text IS NULL OR code = %s)
            ORDER BY gap_start DESC
            LIMIT %s
            """,
            (horizon, market, market, MAX_GAPS),
        )
        rows = cur.fetchall()
        rest = _rest_coverage(cur, horizon, quote=quote, market=market)
    gaps = [Gap(code=r[0], start=r[1], end=r[2], reason=r[3][:80], heal=r[6]) for r in rows]
    open_gaps = int(rows[0][5]) if rows else 0
    stale = as_of is None or (lag is not None and lag > STALE_AFTER_SECONDS) or open_gaps > 0
    return Freshness(
        as_of=as_of,
        lag_seconds=round(lag, 1) if lag is not None else None,
        stale=stale,
        markets_reporting=reporting or 0,
        gaps=gaps,
        open_gaps=open_gaps,
        rest_minutes=rest[0],
        rest_from=rest[1],
        rest_to=rest[2],
    )


def _rest_coverage(
    cur: psycopg2.extensions.cursor, horizon: datetime, *, quote: str | None, market: str | None
) -> tuple[int, datetime | None, datetime | None]:
    """(minutes, oldest, newest) of REST candles in the horizon. One market: exactly the minutes the combined
    history serves from REST. A quote or all: the span of minutes from the oldest to the newest REST candle (two
    index probes; counting 230K market-minutes a day on every overview would cost more than the answer)."""
    if market is not None:
        # Most markets have no REST minute at all: one probe of the small table, not the combined view's plan.
        if not rest_minutes_in(cur.connection, horizon, None, market=market):
            return 0, None, None
        cur.execute(
            "SELECT count(*), min(bucket), max(bucket) FROM ohlcv_1m_combined"
            " WHERE code = %s AND source = 'rest' AND bucket >= %s",
            (market, horizon),
        )
    else:
        cur.execute(
            "SELECT (extract(epoch FROM max(bucket) - min(bucket)) / 60)::int + 1, min(bucket), max(bucket)"
            " FROM rest_candles_1m WHERE bucket >= %s AND code LIKE %s",
            (horizon, f"{quote}-%" if quote else "%"),
        )
    row = cur.fetchone()
    return (int(row[0] or 0), row[1], row[2]) if row else (0, None, None)
