"""The Upbit MCP server: `build_server(settings)` → an MCPServer with read-only market tools, a catalog, prompts."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any, Literal, TypeVar

import psycopg2.extensions
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from analytics import anomalies as an_anomalies
from analytics import candles as an_candles
from analytics import coin as an_coin
from analytics import indicators as an_indicators
from analytics import movers as an_movers
from analytics import overview as an_overview
from analytics import resolver as an_resolver
from analytics import summaries as an_summaries
from analytics.catalog import load_catalog
from analytics.freshness import freshness, utcnow
from analytics.models import Freshness, MarketRef
from analytics.tokens import count_tokens
from upbit_core.settings import Settings
from upbit_core.severity import Severity
from upbit_mcp.db import DatabaseError, ReadOnlyPool
from upbit_mcp.results import (
    AnomaliesResult,
    CandlesResult,
    CoinBriefResult,
    CompactCandles,
    IndicatorsResult,
    MoversToolResult,
    OverviewResult,
    SearchResult,
    SummaryToolResult,
    cap_list,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

INSTRUCTIONS = (
    "Upbit (Korean crypto exchange) market facts computed from live tickers. Percent fields (*_pct) are signed "
    "percent, values (*_krw) are KRW; read `context` first, every result states its as-of event time and whether "
    "data is stale. Name coins by code (KRW-BTC), symbol, Korean or English name; search_markets resolves them."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

CoinText = Annotated[
    str,
    Field(min_length=1, max_length=100, description="market code (KRW-BTC), symbol, Korean (비트코인) or English name"),
]
Quote = Annotated[Literal["KRW", "BTC", "USDT"], Field(description="quote currency of the markets")]


def build_server(settings: Settings, *, pool: ReadOnlyPool | None = None) -> MCPServer[Any]:
    """A new server bound to `settings`; its lifespan opens (and closes) the read-only database pool."""
    db = pool or ReadOnlyPool(settings)

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[dict[str, Any]]:
        db.open()
        try:
            yield {"db": db}
        finally:
            db.close()

    server: MCPServer[Any] = MCPServer(
        "upbit-market", instructions=INSTRUCTIONS, version="0.1.0", lifespan=lifespan, log_level="WARNING"
    )

    async def call(fn: Callable[[psycopg2.extensions.connection], T]) -> T:
        """Run analytics on a read-only connection; every failure becomes a ToolError with a clean message."""
        try:
            return await db.run(fn)
        except (LookupError, ValueError) as exc:
            raise ToolError(str(exc)) from None
        except DatabaseError as exc:
            raise ToolError(str(exc)) from None
        except ToolError:
            raise
        except Exception as exc:
            log.exception("mcp tool failed error=%s", type(exc).__name__)
            raise ToolError("internal error while computing the result") from None

    def market_of(conn: psycopg2.extensions.connection, coin: str) -> MarketRef:
        return an_resolver.resolve_market(conn, coin)

    def head(fresh: Freshness, context: str) -> dict[str, Any]:
        return {"context": context, "context_tokens": count_tokens(context), "as_of": fresh.as_of, "stale": fresh.stale}

    @server.tool(title="Market overview", annotations=READ_ONLY)
    async def market_overview(quote: Quote = "KRW") -> OverviewResult:
        """Whole-market snapshot: breadth (up/down/flat vs previous close, 5 min, 1 h), traded value, top
        gainers/losers/value leaders, BTC and ETH, open anomalies, freshness. Context ≤ 500 tokens."""

        def work(conn: psycopg2.extensions.connection) -> OverviewResult:
            o = an_overview.market_overview(conn, quote=quote)
            return OverviewResult(**head(o.freshness, o.to_context()), overview=o)

        return await call(work)

    @server.tool(title="Coin brief", annotations=READ_ONLY)
    async def coin_brief(coin: CoinText) -> CoinBriefResult:
        """One coin: price, signed change over 1m/5m/1h, since Upbit's previous close (09:00 KST) and over a rolling
        24h where 24h of data is stored (else n/a), traded value vs its trailing baseline, day and 52-week
        range position, buy/sell pressure, Upbit caution flags, recent anomalies, freshness. Context ≤ 250 tokens."""

        def work(conn: psycopg2.extensions.connection) -> CoinBriefResult:
            b = an_coin.coin_brief(conn, market_of(conn, coin).market)
            return CoinBriefResult(**head(b.freshness, b.to_context()), brief=b)

        return await call(work)

    @server.tool(title="Top movers", annotations=READ_ONLY)
    async def top_movers(
        window: Annotated[
            Literal["1m", "5m", "1h", "24h"],
            Field(description="change window; 24h = since Upbit's previous close (09:00 KST)"),
        ] = "24h",
        direction: Annotated[Literal["gainers", "losers", "both"], Field(description="both = by |change|")] = "both",
        limit: Annotated[int, Field(ge=1, le=50, description="rows (max 50)")] = 10,
        quote: Quote = "KRW",
    ) -> MoversToolResult:
        """Markets with the largest signed percent change over a window ("24h" is Upbit's change since the previous
        close at 09:00 KST, not a rolling 24 h; the context labels it "vs prev close")."""

        def work(conn: psycopg2.extensions.connection) -> MoversToolResult:
            m = an_movers.top_movers(conn, window=window, direction=direction, limit=limit, quote=quote)
            result = MoversToolResult(**head(m.freshness, m.to_context()), truncated=m.truncated, movers=m)
            cap_list(result, m.items)  # type: ignore[arg-type]
            return result

        return await call(work)

    @server.tool(title="Candles", annotations=READ_ONLY)
    async def candles(
        coin: CoinText,
        interval: Annotated[Literal["1m", "5m", "1h"], Field(description="candle size")] = "5m",
        limit: Annotated[int, Field(ge=1, le=500, description="candles, newest last (max 500)")] = 60,
    ) -> CandlesResult:
        """OHLC candles with fill value (KRW) for one coin, oldest first, up to its latest event."""

        def work(conn: psycopg2.extensions.connection) -> CandlesResult:
            c = an_candles.candles(conn, market_of(conn, coin).market, interval, limit)
            compact = CompactCandles.of(c)
            result = CandlesResult(**head(c.freshness, c.to_context()), truncated=c.truncated, candles=compact)
            cap_list(result, compact.rows, keep_tail=True)  # type: ignore[arg-type]
            return result

        return await call(work)

    @server.tool(title="Technical indicators", annotations=READ_ONLY)
    async def indicators(
        coin: CoinText,
        interval: Annotated[Literal["1m", "5m", "1h", "1d"], Field(description="candle size")] = "1h",
        include_open: Annotated[
            bool, Field(description="also use the unfinished (open) candle; off = last closed candle only")
        ] = False,
    ) -> Annotated[CallToolResult, IndicatorsResult]:
        """RSI(14, Wilder), MACD(12,26,9), Bollinger(20, 2 sd) with %B and bandwidth, SMA/EMA 20/50/200 and volume
        vs its 20-candle average for one coin at its last closed candle; each value is labelled with its interval,
        indicators without enough candles are n/a with the reason. Text ≤ 300 tokens."""

        def work(conn: psycopg2.extensions.connection) -> IndicatorsResult:
            ind = an_indicators.indicators(conn, market_of(conn, coin).market, interval, include_open=include_open)
            fresh = ind.freshness or freshness(conn, market=ind.market)
            return IndicatorsResult(**head(fresh, ind.to_context()), indicators=ind)

        result = await call(work)
        # The text a model reads is the compact context alone; the full result is the structured content.
        return CallToolResult(
            content=[TextContent(text=result.context)], structured_content=result.model_dump(mode="json")
        )

    @server.tool(title="Anomalies", annotations=READ_ONLY)
    async def anomalies(
        coin: Annotated[str | None, Field(max_length=100, description="only this coin; omit for all")] = None,
        status: Annotated[Literal["open", "resolved", "all"], Field(description="lifecycle filter")] = "all",
        min_severity: Annotated[Severity, Field()] = "info",
        since_hours: Annotated[int, Field(ge=1, le=168, description="look back this many hours of event time")] = 24,
        limit: Annotated[int, Field(ge=1, le=100, description="rows (max 100)")] = 20,
    ) -> AnomaliesResult:
        """Detected anomaly events (value spikes, price jumps, caution flags, market moves), newest first."""

        def work(conn: psycopg2.extensions.connection) -> AnomaliesResult:
            market = market_of(conn, coin).market if coin else None
            fresh = freshness(conn, market=market)
            since = (fresh.as_of or utcnow()) - timedelta(hours=since_hours)
            a = an_anomalies.recent_anomalies(
                conn, market=market, since=since, status=status, min_severity=min_severity, limit=limit
            )
            result = AnomaliesResult(**head(a.freshness, a.to_context()), truncated=a.truncated, anomalies=a)
            cap_list(result, a.items)  # type: ignore[arg-type]
            return result

        return await call(work)

    @server.tool(title="Latest summary", annotations=READ_ONLY)
    async def latest_summary(
        kind: Annotated[
            Literal["market_summary", "coin_qa", "anomaly_interpretation"], Field(description="which stored result")
        ] = "market_summary",
        coin: Annotated[str | None, Field(max_length=100, description="only results about this coin")] = None,
    ) -> SummaryToolResult:
        """The newest stored LLM market summary (or coin answer / anomaly interpretation), with its age."""

        def work(conn: psycopg2.extensions.connection) -> SummaryToolResult:
            market = market_of(conn, coin).market if coin else None
            s = an_summaries.latest_summary(conn, kind=kind, market=market)
            return SummaryToolResult(**head(s.freshness, s.to_context()), summary=s)

        return await call(work)

    @server.tool(title="Search markets", annotations=READ_ONLY)
    async def search_markets(
        query: Annotated[str, Field(min_length=1, max_length=200, description="a name, code, or a whole question")],
    ) -> SearchResult:
        """Resolve coin names (Korean/English, short forms like 비트/이더, typos) to Upbit markets: found,
        ambiguous (candidates) or not found (closest suggestions)."""

        def work(conn: psycopg2.extensions.connection) -> SearchResult:
            res = an_resolver.resolve(conn, query)
            matches = an_resolver.find_coins(conn, query)[:20]
            fresh = freshness(conn)
            text = res.to_context()
            return SearchResult(**head(fresh, text), resolution=res, matches=matches)

        return await call(work)

    @server.resource(
        "upbit://markets",
        name="market-catalog",
        mime_type="application/json",
        description="Every Upbit market known: code, Korean/English names, listing and caution flags",
    )
    async def market_catalog() -> str:
        def work(conn: psycopg2.extensions.connection) -> str:
            refs = sorted(load_catalog(conn).refs.values(), key=lambda r: r.market)
            return json.dumps([r.model_dump() for r in refs], ensure_ascii=False)

        try:
            return await db.run(work)
        except DatabaseError as exc:
            raise ToolError(str(exc)) from None

    @server.prompt(name="analyze_coin", title="Analyze this coin")
    def analyze_coin(coin: str) -> str:
        """Ask for a grounded analysis of one coin."""
        return (
            f"Analyze the Upbit coin '{coin[:100]}'. First call search_markets if the name may be ambiguous, then "
            "coin_brief, indicators (interval 1h) and candles (interval 5m, limit 24). Use only numbers from the tool "
            "results, say the as-of time, mention stale data or gaps, and explain signed percent changes, traded "
            "value versus baseline, range position, buy share, RSI/MACD/Bollinger readings with their interval, "
            "caution flags and anomalies. No investment advice."
        )

    @server.prompt(name="market_briefing", title="Market briefing")
    def market_briefing(language: Literal["ko", "en"] = "ko") -> str:
        """Ask for a short briefing of the whole Upbit market."""
        lang = "Korean" if language == "ko" else "English"
        return (
            f"Write a short Upbit market briefing in {lang}. Call market_overview, then top_movers (window 1h) and "
            "anomalies (status open). Use only numbers from the tool results, state the as-of time and freshness, "
            "and keep it under 200 words. No investment advice."
        )

    return server
