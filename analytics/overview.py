"""Market overview: breadth, traded value, leaders, BTC/ETH, open anomalies and freshness for one quote."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import psycopg2.extensions

from analytics.anomalies import query_anomalies
from analytics.catalog import load_catalog
from analytics.freshness import freshness
from analytics.models import Breadth, CoinLine, MarketOverview
from analytics.series import Latest, fill_values, latest_rows, listed_only, reference_closes, window_changes
from analytics.units import change_pct

Quote = Literal["KRW", "BTC", "USDT"]
LIST_SIZE = 5


def _breadth(window: Literal["prev_close", "5m", "1h"], changes: list[float | None]) -> Breadth:
    known = [c for c in changes if c is not None]
    return Breadth(
        window=window,
        up=sum(1 for c in known if c > 0),
        down=sum(1 for c in known if c < 0),
        flat=sum(1 for c in known if c == 0),
        total=len(known),
    )


def market_overview(
    conn: psycopg2.extensions.connection, *, quote: Quote = "KRW", top: int = LIST_SIZE
) -> MarketOverview:
    """The whole market of one quote currency at its newest event time."""
    catalog = load_catalog(conn)
    rows = listed_only(latest_rows(conn, quote=quote), catalog)
    as_of = max((r.time for r in rows), default=None)
    fresh = freshness(conn, quote=quote, as_of=as_of, reporting=len(rows)) if as_of else freshness(conn, quote=quote)
    ch5: dict[str, float | None] = {}
    ch1h: dict[str, float | None] = {}
    value_1h: float | None = None
    coverage_1h: float | None = None
    if as_of is not None:
        ch5 = window_changes(rows, reference_closes(conn, as_of, "5m", quote=quote))
        ch1h = window_changes(rows, reference_closes(conn, as_of, "1h", quote=quote))
        values = fill_values(conn, as_of, 60, quote=quote)
        value_1h = sum(values.values()) if values else 0.0
        coverage_1h = _coverage(conn, as_of, quote)
    is_krw = quote == "KRW"

    def line(r: Latest, rolling: bool = False) -> CoinLine:
        ref = catalog.get(r.code)
        rolling_24h = None
        if rolling and as_of is not None:
            rolling_24h = change_pct(r.price, reference_closes(conn, as_of, "24h", market=r.code).get(r.code))
        return CoinLine(
            market=r.code,
            symbol=r.code.split("-", 1)[-1],
            korean_name=ref.korean_name if ref else "",
            price=r.price,
            change_24h_pct=r.change_24h_pct,
            change_5m_pct=ch5.get(r.code),
            change_1h_pct=ch1h.get(r.code),
            change_rolling_24h_pct=rolling_24h,
            value_24h_upbit_krw=r.value_24h if is_krw else None,
        )

    with_change = [r for r in rows if r.change_24h_pct is not None]
    gainers = sorted(with_change, key=lambda r: r.change_24h_pct or 0.0, reverse=True)[:top]
    losers = sorted(with_change, key=lambda r: r.change_24h_pct or 0.0)[:top]
    leaders = sorted((r for r in rows if r.value_24h is not None), key=lambda r: r.value_24h or 0.0, reverse=True)
    movers = sorted((r for r in rows if ch5.get(r.code) is not None), key=lambda r: -abs(ch5[r.code] or 0.0))
    by_code = {r.code: r for r in rows}
    anomalies, anomaly_count = query_anomalies(conn, status="open", limit=top)
    value_24h = sum(r.value_24h or 0.0 for r in rows) if rows and is_krw else None
    return MarketOverview(
        quote=quote,
        freshness=fresh,
        markets=len(rows),
        breadth_prev_close=_breadth("prev_close", [r.change_24h_pct for r in rows]),
        breadth_5m=_breadth("5m", list(ch5.values())),
        breadth_1h=_breadth("1h", list(ch1h.values())),
        value_24h_upbit_krw=value_24h,
        value_1h_fills_krw=value_1h if is_krw else None,
        value_1h_coverage_seconds=coverage_1h if is_krw else None,
        btc=line(by_code[f"{quote}-BTC"], rolling=True) if f"{quote}-BTC" in by_code else None,
        eth=line(by_code[f"{quote}-ETH"], rolling=True) if f"{quote}-ETH" in by_code else None,
        gainers=[line(r) for r in gainers if (r.change_24h_pct or 0) > 0],
        losers=[line(r) for r in losers if (r.change_24h_pct or 0) < 0],
        value_leaders=[line(r) for r in leaders[:top]],
        movers_5m=[line(r) for r in movers[:top] if ch5[r.code] != 0],
        open_anomalies=anomalies,
        open_anomalies_count=anomaly_count,
    )


def _coverage(conn: psycopg2.extensions.connection, as_of: datetime, quote: str) -> float | None:
    """Seconds of stored history (fills, else Upbit REST minutes) behind the last hour's figures (3600 when the
    whole hour is covered). The usual case — some minute older than the hour exists — is one early-exit probe per
    source; only a history younger than an hour reads its oldest minute (min() over the plain-mode view scans the
    whole range: 9 ms on 160 markets, against 0.3 ms for the probe)."""
    hour = timedelta(hours=1)
    params = {"q": quote + "-%", "lo": as_of - 2 * hour, "mid": as_of - hour, "hi": as_of}
    with conn.cursor() as cur:
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM ohlcv_1m WHERE code LIKE %(q)s AND bucket > %(lo)s AND bucket <= %(mid)s)"
            " OR EXISTS (SELECT 1 FROM rest_candles_1m WHERE code LIKE %(q)s AND bucket > %(lo)s"
            " AND bucket <= %(mid)s)",
            params,
        )
        row = cur.fetchone()
        if row and row[0]:
            return 3600.0
        cur.execute(
            "SELECT least((SELECT min(bucket) FROM ohlcv_1m WHERE code LIKE %(q)s AND bucket > %(mid)s"
            " AND bucket <= %(hi)s), (SELECT min(bucket) FROM rest_candles_1m WHERE code LIKE %(q)s"
            " AND bucket > %(mid)s AND bucket <= %(hi)s))",
            params,
        )
        row = cur.fetchone()
    first = row[0] if row else None
    return None if first is None else min(3600.0, (as_of - first).total_seconds())
