"""Candles of one market at 1m/5m/1h/1d, built from the combined 1-minute history (fills, else Upbit REST)."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg2.extensions

from analytics.catalog import load_catalog
from analytics.freshness import freshness
from analytics.models import Candle, CandleSeries, Interval
from analytics.resolver import resolve_market
from analytics.series import ORIGIN, bin_start, level_view, minute_view, rest_minutes_in

MAX_CANDLES = 500
STEP = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),  # UTC midnight = 09:00 KST, where Upbit's own daily candles start
}


# 1m candles: the minutes themselves (source says fills or REST).
_MINUTES_SQL = """
    SELECT bucket, open, high, low, close, volume, value, fills, {rest}
    FROM {view}
    WHERE code = %(code)s AND bucket >= %(start)s AND bucket <= %(as_of)s
    ORDER BY bucket
"""
# 5m/1h/1d: the level's own rows (one per candle), plus how many of each candle's minutes came from Upbit REST.
_LEVEL_SQL = """
    SELECT c.bucket, c.open, c.high, c.low, c.close, c.volume, c.value, c.fills, coalesce(r.rest, 0)
    FROM {view} c
    LEFT JOIN (
        SELECT date_bin(%(step)s, bucket, %(origin)s) AS t, count(*) AS rest
        FROM ohlcv_1m_combined
        WHERE source = 'rest' AND code = %(code)s AND bucket >= %(start)s AND bucket <= %(as_of)s
        GROUP BY 1
    ) r ON r.t = c.bucket
    WHERE c.code = %(code)s AND c.bucket >= %(start)s AND c.bucket <= %(as_of)s
    ORDER BY c.bucket
"""
_LEVEL_FILLS_SQL = """
    SELECT bucket, open, high, low, close, volume, value, fills, 0
    FROM {view}
    WHERE code = %(code)s AND bucket >= %(start)s AND bucket <= %(as_of)s
    ORDER BY bucket
"""


def _sql(interval: Interval, rest: bool) -> str:
    """The candle query: REST-aware views only where an Upbit REST minute lies in the range (series.rest_minutes_in
    says why); the answers are the same either way."""
    if interval == "1m":
        return _MINUTES_SQL.format(view=minute_view(rest), rest="(source = 'rest')::int" if rest else "0")
    return (_LEVEL_SQL if rest else _LEVEL_FILLS_SQL).format(view=level_view(interval, rest))


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
    start = bin_start(end, step) - step * (limit - 1)
    params = {"step": step, "origin": ORIGIN, "code": ref.market, "start": start, "as_of": end}
    rest = rest_minutes_in(conn, start, end + step, market=ref.market)
    with conn.cursor() as cur:
        # Above 1m the rolled-up level (continuous aggregates or rollup tables) holds one row per candle: a week of
        # hourly candles is 168 rows, not 10,080 minutes.
        cur.execute(_sql(interval, rest), params)
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
