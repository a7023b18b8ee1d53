"""Structured tool results: the analytics model, its compact context text, as-of/freshness, and caps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from analytics.models import (
    AnomalyList,
    CandleSeries,
    CoinBrief,
    Freshness,
    IndicatorSet,
    MarketOverview,
    MarketRef,
    MoversResult,
    Resolution,
    SummaryResult,
)

# Every tool result stays below this many bytes of JSON; lists are cut from the far end and `truncated` is set.
MAX_RESULT_BYTES = 48_000


class ToolResult(BaseModel):
    context: str = Field(description="compact, token-budgeted text of the result (what to read first)")
    context_tokens: int = Field(description="tokens in `context` (offline Claude BPE)")
    as_of: datetime | None = Field(description="event time the data is as of (UTC)")
    stale: bool = Field(description="true when the data lags or an ingest gap is open")
    truncated: bool = Field(default=False, description="rows or bytes were capped")


class OverviewResult(ToolResult):
    overview: MarketOverview


class CoinBriefResult(ToolResult):
    brief: CoinBrief


class MoversToolResult(ToolResult):
    movers: MoversResult


CANDLE_COLUMNS = ["t", "open", "high", "low", "close", "volume", "value_krw", "fills"]


def _csv_number(value: float | int | None) -> str:
    # repr is the shortest text that reads back as the same float: no digit is rounded away.
    return "" if value is None else repr(value)


class CompactCandles(BaseModel):
    """Candles as compact rows: one CSV line per candle under a single header, instead of one JSON object each.
    For a week of hourly candles that is a third fewer bytes and a quarter fewer tokens, and the official client's
    output-schema validation checks one string per candle instead of eight keys (bench.mcp_latency, 168 candles:
    21 → 12 ms p50)."""

    market: str
    interval: Literal["1m", "5m", "1h", "1d"]
    columns: list[str] = Field(
        default_factory=lambda: list(CANDLE_COLUMNS),
        description="the fields of each row: t = bucket start (UTC, ISO 8601), prices and value in the quote "
        "currency (value_krw empty when the quote is not KRW), volume in the coin, fills = number of trades",
    )
    rows: list[str] = Field(description="one CSV line per candle, oldest first; an empty field is null")
    freshness: Freshness

    @classmethod
    def of(cls, series: CandleSeries) -> CompactCandles:
        rows = [
            ",".join(
                (
                    c.t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    *map(_csv_number, (c.open, c.high, c.low, c.close, c.volume, c.value_fills_krw)),
                    str(c.fills),
                )
            )
            for c in series.candles
        ]
        return cls(market=series.market, interval=series.interval, rows=rows, freshness=series.freshness)


class CandlesResult(ToolResult):
    candles: CompactCandles


class IndicatorsResult(ToolResult):
    indicators: IndicatorSet


class AnomaliesResult(ToolResult):
    anomalies: AnomalyList


class SummaryToolResult(ToolResult):
    summary: SummaryResult


class SearchResult(ToolResult):
    resolution: Resolution
    matches: list[MarketRef] = Field(description="every market named in the query, in order")


def byte_size(model: BaseModel) -> int:
    return len(model.model_dump_json().encode("utf-8"))


def cap_list(result: ToolResult, items: list[object], *, keep_tail: bool = False) -> None:
    """Drop list items (from the end, or from the start when keep_tail) until the result fits MAX_RESULT_BYTES."""
    while items and byte_size(result) > MAX_RESULT_BYTES:
        drop = max(1, len(items) // 10)
        if keep_tail:
            del items[:drop]
        else:
            del items[-drop:]
        result.truncated = True
