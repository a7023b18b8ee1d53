"""Candles of one market at 1m/5m/1h/1d, read from the candle aggregate of that interval over a bounded range."""

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
VIEW = {"1m": "ohlcv_1m", "5m": "ohlcv_5m", "1h": "ohlcv_1h", "1d": "ohlcv_1d"}
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # the bucket origin of the candle levels (time_bucket and date_bin agree)


def _bin(ts: datetime, step: timedelta) -> datetime:
    return _EPOCH + ((ts - _EPOCH) // step) * step


def candles(
    conn: psycopg2.extensions.connection, market: str, interval: Interval = "5m", limit: int = 60
) -> CandleSeries:
    """The newest `limit` candles (oldest first) up to the market's latest event; capped at MAX_CANDLES."""
    if interval not in STEP:
        raise ValueError(f"interval must be one of {sorted(STEP)}")
    truncated = limit > MAX_CANDLES
    limit = max(1, min(limit, MAX_CANDLES))
    ref = load_catalog(conn).get(market) or resolve_market(conn, market)
    fresh = freshness(conn, market=ref.market)
    if fresh.as_of is None:
        return CandleSeries(market=ref.market, interval=interval, candles=[], freshness=fresh)
    step = STEP[interval]
    start = _bin(fresh.as_of, step) - step * (limit - 1)
    with conn.cursor() as cur:
        # Each interval reads its own aggregate level (5m/1h/1d roll up ohlcv_1m; real-time in both modes):
        # a week of hourly candles is 168 rows, not 10,080 minutes re-aggregated per call. The view name comes
        # from VIEW, never from input.
        cur.execute(
            f"SELECT bucket, open, high, low, close, volume, value, fills FROM {VIEW[interval]} "  # noqa: S608
            "WHERE code = %(code)s AND bucket >= %(start)s AND bucket <= %(as_of)s ORDER BY bucket",
            {"code": ref.market, "start": start, "as_of": fresh.as_of},
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
        )
        for r in rows
    ]
    return CandleSeries(
        market=ref.market, interval=interval, candles=series[-limit:], truncated=truncated, freshness=fresh
    )
