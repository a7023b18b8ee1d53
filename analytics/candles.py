"""Candles of one market at 1m/5m/1h/1d, built from the combined 1-minute history (fills, else Upbit REST)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg2.extensions

from analytics.catalog import load_catalog
from analytics.freshness import freshness
from analytics.models import Candle, CandleSeries, Interval
from analytics.resolver import resolve_market

MAX_CANDLES = 500
STEP = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),  # UTC midnight = 09:00 KST, where Upbit's own daily candles start
}
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # the same origin as the ohlcv_5m / ohlcv_1h views


def _bin(ts: datetime, step: timedelta) -> datetime:
    return _EPOCH + ((ts - _EPOCH) // step) * step


def candles(
    conn: psycopg2.extensions.connection,
    market: str,
    interval: Interval = "5m",
    limit: int = 60,
    *,
    before: datetime | None = None,
) -> CandleSeries:
    """The newest `limit` candles (oldest first) up to the market's latest event; capped at MAX_CANDLES.

    `before` pages back: only candles starting before that time (the `t` of the oldest candle already seen).
    """
    if interval not in STEP:
        raise ValueError(f"interval must be one of {sorted(STEP)}")
    truncated = limit > MAX_CANDLES
    limit = max(1, min(limit, MAX_CANDLES))
    ref = load_catalog(conn).get(market) or resolve_market(conn, market)
    fresh = freshness(conn, market=ref.market)
    if fresh.as_of is None:
        return CandleSeries(market=ref.market, interval=interval, candles=[], freshness=fresh)
    step = STEP[interval]
    end = fresh.as_of if before is None else min(fresh.as_of, before - timedelta(microseconds=1))
    start = _bin(end, step) - step * (limit - 1)
    with conn.cursor() as cur:
        # Open/close via the first/last minute of each bin (hash joins on a materialised CTE): no per-bin sort of
        # array_agg(... ORDER BY), which costs 4x more on a week of minutes.
        cur.execute(
            """
            WITH m AS MATERIALIZED (
                SELECT bucket, open, high, low, close, volume, value, fills, source
                FROM ohlcv_1m_combined
                WHERE code = %(code)s AND bucket >= %(start)s AND bucket <= %(as_of)s
            ), g AS (
                SELECT date_bin(%(step)s, bucket, %(origin)s) AS t, min(bucket) AS first_b, max(bucket) AS last_b,
                       max(high) AS high, min(low) AS low, sum(volume) AS volume, sum(value) AS value,
                       sum(fills) AS fills, count(*) FILTER (WHERE source = 'rest') AS rest
                FROM m GROUP BY 1
            )
            SELECT g.t, o.open, g.high, g.low, c.close, g.volume, g.value, g.fills, g.rest
            FROM g JOIN m o ON o.bucket = g.first_b JOIN m c ON c.bucket = g.last_b
            ORDER BY g.t
            """,
            {"step": step, "origin": _EPOCH, "code": ref.market, "start": start, "as_of": end},
        )
        rows = cur.fetchall()
    is_krw = ref.quote == "KRW"
    series = [
        Candle(
            t=r[0],
            open=r[1],
            high=r[2],
            low=r[3],
            close=r[4],
            volume=r[5],
            value_fills_krw=r[6] if is_krw else None,
            fills=int(r[7] or 0),
            rest_minutes=int(r[8] or 0),
        )
        for r in rows
    ]
    return CandleSeries(
        market=ref.market, interval=interval, candles=series[-limit:], truncated=truncated, freshness=fresh
    )
