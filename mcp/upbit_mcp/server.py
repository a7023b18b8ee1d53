"""The Upbit MCP server: `build_server(settings)` → an MCPServer with read-only market tools, a catalog, prompts."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, TypeVar

import psycopg2.extensions
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, create_model

from analytics import tools as registry
from analytics.catalog import load_catalog
from upbit_core.settings import Settings
from upbit_mcp.db import DatabaseError, ReadOnlyPool

log = logging.getLogger(__name__)
T = TypeVar("T")

INSTRUCTIONS = (
    "Upbit (Korean crypto exchange) market facts computed from live tickers. % = signed percent, values in KRW; "
    "each result states its as-of event time and whether data is stale. Coins by code (KRW-BTC), symbol, Korean or "
    "English name."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


def output_model(tool: registry.ToolDef) -> type[BaseModel]:
    """The slim output schema: the envelope typed, the data an object named by its analytics model.

    The full nested schemas of the analytics models cost ~9,300 tokens in tools/list and a client walks them to
    validate every result; nothing shows them to a model. The envelope keeps validation meaningful for what
    programs rely on first (as-of, staleness, truncation) and the description says where the data is documented.
    """
    fields: dict[str, Any] = {
        "as_of": (str | None, Field(description="UTC event time of the newest data used")),
        "stale": (bool, ...),
        "truncated": (bool, ...),
        "text_tokens": (int, Field(description="tokens of the text content")),
        tool.data_key: (dict[str, Any], Field(description=tool.data_doc or "the result data")),
    }
    if tool.name == "search_markets":
        fields["matches"] = (list[dict[str, Any]], Field(description="every market named, in order"))
    return create_model(f"{tool.name}_result", **fields)


def build_server(settings: Settings, *, pool: ReadOnlyPool | None = None) -> MCPServer[Any]:
    """A new server bound to `settings`; its lifespan opens (and closes) the read-only database pool."""
    db = pool or ReadOnlyPool(settings)
    structured = settings.mcp_structured_content

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

    def add(tool: registry.ToolDef) -> None:
        """Register one registry tool. The result is built here (not by the SDK): its text content is the compact
        text alone — the SDK would otherwise serialise the whole returned model into the text a model reads."""

        async def handler(**arguments: Any) -> CallToolResult:
            out = await call(lambda conn: tool.fn(conn, **arguments))
            return CallToolResult(
                content=[TextContent(type="text", text=out.text)],
                structured_content=out.structured(tool.data_key) if structured else None,
            )

        returns: Any = Annotated[CallToolResult, output_model(tool)] if structured else CallToolResult
        handler.__signature__ = tool.signature.replace(return_annotation=returns)  # type: ignore[attr-defined]
        handler.__name__ = tool.name
        server.add_tool(handler, name=tool.name, title=tool.title, description=tool.description, annotations=READ_ONLY)
        registered = server._tool_manager.get_tool(tool.name)  # the SDK has no public setter
        if registered is not None:
            # The same slim input schema Claude tool use gets; validation still runs on the full pydantic model.
            registered.parameters = tool.input_schema

    for tool in registry.REGISTRY.values():
        add(tool)

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

    @server.prompt(name="ask_market", title="Ask about the market")
    def ask_market(question: str) -> str:
        """Answer any question about the Upbit market with these tools (the same rules as `upbit-llm ask`)."""
        q = question[:500]
        korean = any("\uac00" <= ch <= "\ud7a3" for ch in q)
        return f"{registry.ASK_RULES['ko' if korean else 'en']}\n\nQuestion: {q}"

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
