"""What the dashboard shows, read through the analytics layer only (no SQL of its own) on read-only connections."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, Field

from analytics.anomalies import recent_anomalies
from analytics.catalog import load_catalog
from analytics.coin import coin_brief
from analytics.models import (
    AnomalyList,
    CandleSeries,
    CoinBrief,
    CoinLine,
    Freshness,
    MarketOverview,
    MarketRef,
    Resolution,
    SummaryResult,
)
from analytics.overview import market_overview
from analytics.resolver import resolve
from analytics.summaries import latest_summary
from dashboard.database import ReadPool

log = logging.getLogger(__name__)

Interval = Literal["1m", "5m", "1h"]
# Every listed market fits: Upbit lists ~180 KRW markets (all quotes together stay under 700).
ALL_MARKETS = 1_000
OVERVIEW_TOP = 5
FEED_SIZE = 30


class MarketRow(CoinLine):
    """A row of the dashboard's market table: analytics' CoinLine plus the English name from its catalog."""

    english_name: str = ""


class MarketTable(BaseModel):
    quote: str
    items: list[MarketRow] = Field(description="every listed market of the quote with a latest ticker")
    freshness: Freshness


class LiveSnapshot(BaseModel):
    """Everything the overview page shows, read in one pass (the server-sent events carry its parts)."""

    overview: MarketOverview
    markets: MarketTable
    anomalies: AnomalyList
    summary: SummaryResult


def _table(overview: MarketOverview, names: dict[str, MarketRef]) -> MarketTable:
    # market_overview(top=ALL_MARKETS) lists every market in value_leaders (all KRW markets carry Upbit's 24 h
    # value); the other lists add any market without one. Nothing is recomputed here, only collected.
    rows: dict[str, MarketRow] = {}
    for line in [*overview.value_leaders, *overview.gainers, *overview.losers, *overview.movers_5m]:
        if line.market not in rows:
            ref = names.get(line.market)
            rows[line.market] = MarketRow(**line.model_dump(), english_name=ref.english_name if ref else "")
    for line in (overview.btc, overview.eth):
        if line is not None and line.market not in rows:
            ref = names.get(line.market)
            rows[line.market] = MarketRow(**line.model_dump(), english_name=ref.english_name if ref else "")
    return MarketTable(quote=overview.quote, items=list(rows.values()), freshness=overview.freshness)


def _trimmed(overview: MarketOverview, top: int) -> MarketOverview:
    return overview.model_copy(
        update={
            "gainers": overview.gainers[:top],
            "losers": overview.losers[:top],
            "value_leaders": overview.value_leaders[:top],
            "movers_5m": overview.movers_5m[:top],
        }
    )


class DataSource:
    """The dashboard's read model. Each method borrows one read-only connection and calls analytics."""

    def __init__(self, pool: ReadPool) -> None:
        self.pool = pool

    def overview(self, *, top: int = OVERVIEW_TOP) -> MarketOverview:
        with self.pool.connection() as conn:
            return market_overview(conn, top=top)

    def markets(self) -> MarketTable:
        with self.pool.connection() as conn:
            overview = market_overview(conn, top=ALL_MARKETS)
            return _table(overview, load_catalog(conn).refs)

    def coin(self, market: str) -> CoinBrief:
        with self.pool.connection() as conn:
            return coin_brief(conn, market)

    def candles(self, market: str, interval: Interval, limit: int) -> CandleSeries:
        from analytics.candles import candles

        with self.pool.connection() as conn:
            return candles(conn, market, interval, limit)

    def anomalies(self, *, market: str | None = None, limit: int = FEED_SIZE) -> AnomalyList:
        with self.pool.connection() as conn:
            return recent_anomalies(conn, market=market, limit=limit)

    def summary(self) -> SummaryResult:
        with self.pool.connection() as conn:
            return latest_summary(conn)

    def resolve(self, text: str) -> Resolution:
        with self.pool.connection() as conn:
            return resolve(conn, text)

    def known_market(self, code: str) -> MarketRef | None:
        with self.pool.connection() as conn:
            return load_catalog(conn).get(code)

    def snapshot(self) -> LiveSnapshot:
        """Overview, full table, anomaly feed and latest summary from one connection (one market_overview call)."""
        with self.pool.connection() as conn:
            full = market_overview(conn, top=ALL_MARKETS)
            return LiveSnapshot(
                overview=_trimmed(full, OVERVIEW_TOP),
                markets=_table(full, load_catalog(conn).refs),
                anomalies=recent_anomalies(conn, limit=FEED_SIZE),
                summary=latest_summary(conn),
            )
