"""What the dashboard shows, read through the analytics layer only (no SQL of its own) on read-only connections."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from analytics.anomalies import recent_anomalies
from analytics.candles import candles as read_candles
from analytics.catalog import load_catalog
from analytics.coin import coin_brief
from analytics.indicators import indicator_series
from analytics.models import (
    AnomalyList,
    CandleSeries,
    CoinBrief,
    CoinLine,
    Freshness,
    IndicatorSeries,
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
    for major in (overview.btc, overview.eth):
        if major is not None and major.market not in rows:
            ref = names.get(major.market)
            rows[major.market] = MarketRow(**major.model_dump(), english_name=ref.english_name if ref else "")
    return MarketTable(quote=overview.quote, items=list(rows.values()), freshness=overview.freshness)


def _trimmed(overview: MarketOverview, top: int) -> MarketOverview:
    return overview.model_copy(
        update={
            "gainers": overview.gainers[:top],
            "losers": overview.losers[:top],
            "value_leaders": overview.value_leaders[:top],
            "movers_5m": overview.movers_5m[:top],
            "open_anomalies": overview.open_anomalies[:top],
        }
    )


class _Recent:
    """The last full market overview, reused for `max_age` seconds; one computation at a time (single flight).

    market_overview over every market is the dashboard's most expensive read; the overview page, the table API and
    the live feed all need it. Reusing it for up to one refresh interval means a hundred open pages cost the
    database what one does, and a number on the page is never older than the live feed's own period.
    """

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._value: tuple[float, MarketOverview, dict[str, MarketRef]] | None = None

    def get(
        self, compute: Callable[[], tuple[MarketOverview, dict[str, MarketRef]]]
    ) -> tuple[MarketOverview, dict[str, MarketRef]]:
        cached = self._value
        if cached is not None and time.monotonic() - cached[0] < self.max_age:
            return cached[1], cached[2]
        with self._lock:
            cached = self._value
            if cached is not None and time.monotonic() - cached[0] < self.max_age:
                return cached[1], cached[2]
            overview, names = compute()
            self._value = (time.monotonic(), overview, names)
            return overview, names


class DataSource:
    """The dashboard's read model. Each method borrows one read-only connection and calls analytics."""

    def __init__(self, pool: ReadPool, *, max_age: float = 0.0) -> None:
        self.pool = pool
        self._recent = _Recent(max_age)

    def _full(self) -> tuple[MarketOverview, dict[str, MarketRef]]:
        def compute() -> tuple[MarketOverview, dict[str, MarketRef]]:
            with self.pool.connection() as conn:
                return market_overview(conn, top=ALL_MARKETS), load_catalog(conn).refs

        return self._recent.get(compute)

    def overview(self, *, top: int = OVERVIEW_TOP) -> MarketOverview:
        # Identical to market_overview(conn, top=top): its lists are prefixes of the full ones (the API test checks).
        return _trimmed(self._full()[0], top)

    def markets(self) -> MarketTable:
        full, names = self._full()
        return _table(full, names)

    def coin(self, market: str) -> CoinBrief:
        with self.pool.connection() as conn:
            return coin_brief(conn, market)

    def candles(self, market: str, interval: Interval, limit: int) -> CandleSeries:
        with self.pool.connection() as conn:
            return read_candles(conn, market, interval, limit)

    def indicators(self, market: str, interval: Interval, limit: int) -> IndicatorSeries:
        """Chart overlays (MAs, Bollinger, RSI) aligned with `candles(market, interval, limit)`."""
        with self.pool.connection() as conn:
            return indicator_series(conn, market, interval, keep=limit)

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
        """Overview, full table, anomaly feed and latest summary (one market_overview for all three views)."""
        full, names = self._full()
        with self.pool.connection() as conn:
            return LiveSnapshot(
                overview=_trimmed(full, OVERVIEW_TOP),
                markets=_table(full, names),
                anomalies=recent_anomalies(conn, limit=FEED_SIZE),
                summary=latest_summary(conn),
            )
