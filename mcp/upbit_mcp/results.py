"""Structured tool results: the analytics model, its compact context text, as-of/freshness, and caps."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from analytics.models import (
    AnomalyList,
    CandleSeries,
    CoinBrief,
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


class CandlesResult(ToolResult):
    candles: CandleSeries


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
