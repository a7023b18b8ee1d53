"""Coin brief: one market's price, signed changes, value vs baseline, ranges, pressure, flags, anomalies, indicators."""

from __future__ import annotations

from datetime import timedelta

import psycopg2.extensions

from analytics.anomalies import query_anomalies
from analytics.catalog import load_catalog
from analytics.freshness import freshness
from analytics.indicators import indicators
from analytics.models import CoinBrief, IndicatorInterval, IndicatorSet, MarketRef
from analytics.resolver import resolve_market
from analytics.series import latest_rows, minute_view, rest_minutes_in
from analytics.units import change_pct, position_pct, ratio, share_pct

BASELINE_HOURS = 24
# The brief's indicator line reads 1h candles; a market with too little history for RSI14 there falls back to finer
# candles (the line names its interval), so a young database still shows a reading rather than only "n/a".
BRIEF_INTERVALS: tuple[IndicatorInterval, ...] = ("1h", "5m", "1m")


def brief_indicators(conn: psycopg2.extensions.connection, market: str) -> IndicatorSet | None:
    """The indicator set the coin brief shows: the first of BRIEF_INTERVALS whose RSI14 is warmed up."""
    result: IndicatorSet | None = None
    for interval in BRIEF_INTERVALS:
        result = indicators(conn, market, interval)
        if result.rsi14 is not None:
            break
    if result is not None:
        result.freshness = None  # the brief states its own freshness once
    return result


def coin_brief(conn: psycopg2.extensions.connection, market: str, *, with_indicators: bool = True) -> CoinBrief:
    """Brief for `market` (a code, or any text the resolver understands). LookupError when it names no market."""
    catalog = load_catalog(conn)
    ref = catalog.get(market) or resolve_market(conn, market)
    rows = latest_rows(conn, market=ref.market)
    if not rows:
        raise LookupError(f"{ref.market} has no ticker data yet")
    t = rows[0]
    as_of = t.time
    agg = _window_aggregates(conn, ref, as_of)
    is_krw = ref.quote == "KRW"
    value_1h, buy_1h, sell_1h, value_prior, first_bucket, ref_1m, ref_5m, ref_1h, ref_24h = agg
    covered_hours = None
    coverage_1h = None
    if first_bucket is not None:
        coverage_1h = min(3600.0, (as_of - first_bucket).total_seconds())
    if first_bucket is not None:
        covered_hours = min(BASELINE_HOURS, (as_of - timedelta(hours=1) - first_bucket).total_seconds() / 3600)
    baseline = value_prior / covered_hours if value_prior is not None and covered_hours and covered_hours >= 1 else None
    anomalies, _ = query_anomalies(conn, market=ref.market, since=as_of - timedelta(hours=24), limit=3)
    bid, ask = t.acc_bid_volume, t.acc_ask_volume
    return CoinBrief(
        ref=ref,
        freshness=freshness(conn, market=ref.market, as_of=as_of, reporting=1),
        price=t.price,
        prev_close=t.prev_close,
        change_1m_pct=change_pct(t.price, ref_1m),
        change_5m_pct=change_pct(t.price, ref_5m),
        change_1h_pct=change_pct(t.price, ref_1h),
        change_24h_pct=t.change_24h_pct,
        change_rolling_24h_pct=change_pct(t.price, ref_24h),
        value_1h_coverage_seconds=coverage_1h,
        value_1h_fills_krw=(value_1h or 0.0) if is_krw else None,
        value_baseline_1h_fills_krw=baseline if is_krw else None,
        value_vs_baseline=ratio(value_1h or 0.0, baseline),
        value_24h_upbit_krw=t.value_24h if is_krw else None,
        day_low=t.low,
        day_high=t.high,
        day_position_pct=position_pct(t.price, t.low, t.high),
        low_52w=t.low_52w,
        high_52w=t.high_52w,
        position_52w_pct=position_pct(t.price, t.low_52w, t.high_52w),
        buy_share_1h_pct=share_pct(buy_1h, (buy_1h or 0.0) + (sell_1h or 0.0)),
        bid_ask_volume_ratio_day=ratio(bid, ask),
        market_warning=t.market_warning,
        anomalies=anomalies,
        indicators=brief_indicators(conn, ref.market) if with_indicators else None,
    )


def _window_aggregates(conn: psycopg2.extensions.connection, ref: MarketRef, as_of):  # type: ignore[no-untyped-def]
    """One pass over the market's 1-minute candles of the last 25 h (bounded by the (code, bucket) index)."""
    hour_ago = as_of - timedelta(hours=1)
    start = as_of - timedelta(hours=BASELINE_HOURS + 1)
    view = minute_view(rest_minutes_in(conn, start, as_of, market=ref.market))
    with conn.cursor() as cur:
        cur.execute(
            f"""
            SELECT
                sum(value) FILTER (WHERE bucket > %(h)s),
                sum(buy_value) FILTER (WHERE bucket > %(h)s),
                sum(sell_value) FILTER (WHERE bucket > %(h)s),
                sum(value) FILTER (WHERE bucket <= %(h)s),
                min(bucket),
                (array_agg(close ORDER BY bucket DESC) FILTER (WHERE bucket <= %(r1)s))[1],
                (array_agg(close ORDER BY bucket DESC) FILTER (WHERE bucket <= %(r5)s))[1],
                (array_agg(close ORDER BY bucket DESC) FILTER (WHERE bucket <= %(r60)s))[1],
                (array_agg(close ORDER BY bucket DESC) FILTER (WHERE bucket <= %(r24)s))[1]
            FROM {view}
            WHERE code = %(code)s AND bucket > %(start)s AND bucket <= %(as_of)s
            """,  # noqa: S608 - one of two constant views
            {
                "code": ref.market,
                "as_of": as_of,
                "start": start,
                "h": hour_ago,
                "r1": as_of - timedelta(minutes=2),
                "r5": as_of - timedelta(minutes=6),
                "r60": as_of - timedelta(minutes=61),
                "r24": as_of - timedelta(hours=24, minutes=1),
            },
        )
        row = cur.fetchone()
    return row if row else (None,) * 9
