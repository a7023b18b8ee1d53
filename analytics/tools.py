"""The market tools, each defined once — name, description, input schema, and a function returning the compact text a
model reads plus the structured data programs read — served by the MCP server and by Claude tool use in llm/.

What a model is given of a tool is its name, description and input schema (the definition) and, per call, the text.
Both are kept lean here: the text is the analytics layer's token-budgeted context (never a JSON dump of the data),
and the input schema is pydantic's, stripped of the `title` noise a model does not need.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Annotated, Any, Literal

import psycopg2.extensions
from pydantic import BaseModel, Field, ValidationError, create_model

from analytics import anomalies as an_anomalies
from analytics import candles as an_candles
from analytics import coin as an_coin
from analytics import context as ctx
from analytics import indicators as an_indicators
from analytics import movers as an_movers
from analytics import overview as an_overview
from analytics import resolver as an_resolver
from analytics import summaries as an_summaries
from analytics.freshness import freshness, utcnow
from analytics.models import CandleSeries, Freshness
from analytics.tokens import count_tokens
from analytics.units import fmt_krw, fmt_price
from upbit_core.severity import Severity

Conn = psycopg2.extensions.connection

# Budgets for each tool's text (tokens, offline Claude BPE): the overview and the coin brief have their own; every
# other tool's text stays within TEXT_BUDGET whatever its arguments.
TEXT_BUDGET = 600
# Structured results stay below this many bytes of JSON; lists are cut from the far end and `truncated` is set.
MAX_RESULT_BYTES = 48_000


class ToolInputError(ValueError):
    """Arguments a tool rejects; the message is safe to show to a model or a person."""


@dataclass
class ToolOutput:
    """One call's result: `text` is what a model reads; `data` (JSON-ready) is for programs."""

    text: str
    data: dict[str, Any]
    freshness: Freshness
    truncated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # more top-level structured keys

    @property
    def text_tokens(self) -> int:
        return count_tokens(self.text)

    def structured(self, data_key: str) -> dict[str, Any]:
        as_of = self.freshness.as_of
        return {
            "as_of": as_of.astimezone(UTC).isoformat() if as_of else None,
            "stale": self.freshness.stale,
            "truncated": self.truncated,
            "text_tokens": self.text_tokens,
            data_key: self.data,
            **self.extra,
        }


@dataclass(frozen=True)
class ToolDef:
    """A tool: `fn(conn, **arguments) -> ToolOutput`; the arguments are declared once, in fn's signature."""

    name: str
    title: str
    description: str
    fn: Callable[..., ToolOutput]
    data_key: str
    budget: int = TEXT_BUDGET
    data_doc: str = ""
    examples: dict[str, Any] = field(default_factory=dict)  # arguments used when measuring (required ones)

    @cached_property
    def signature(self) -> inspect.Signature:
        """fn's signature without the connection: the tool's arguments."""
        sig = inspect.signature(self.fn, eval_str=True)
        return sig.replace(parameters=list(sig.parameters.values())[1:])

    @cached_property
    def args_model(self) -> type[BaseModel]:
        fields: dict[str, Any] = {}
        for p in self.signature.parameters.values():
            default = ... if p.default is inspect.Parameter.empty else p.default
            fields[p.name] = (p.annotation, default)
        return create_model(f"{self.name}_args", **fields)

    @cached_property
    def input_schema(self) -> dict[str, Any]:
        schema = slim_schema(self.args_model.model_json_schema())
        schema.setdefault("properties", {})
        return schema

    def claude_tool(self) -> dict[str, Any]:
        """The definition in the Messages API's `tools` form (what a model is shown)."""
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}

    def validate(self, arguments: dict[str, Any] | None) -> dict[str, Any]:
        try:
            model = self.args_model.model_validate(arguments or {})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()[:3]
            )
            raise ToolInputError(f"invalid arguments for {self.name}: {problems}") from None
        return model.model_dump()

    def call(self, conn: Conn, arguments: dict[str, Any] | None = None) -> ToolOutput:
        """Validate `arguments` and run; LookupError/ValueError carry messages safe to show."""
        return self.fn(conn, **self.validate(arguments))


def slim_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """pydantic's JSON schema without titles, and `X | None` written as X (the default null says it is optional)."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items() if k != "title"}
            any_of = out.get("anyOf")
            if isinstance(any_of, list) and len(any_of) == 2 and {"type": "null"} in any_of:
                (kept,) = [a for a in any_of if a != {"type": "null"}]
                out.pop("anyOf")
                out = {**kept, **out}
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return dict(walk(schema))


# --------------------------------------------------------------------------- argument types (shared)
CoinText = Annotated[
    str, Field(min_length=1, max_length=100, description="code (KRW-BTC), symbol, or Korean/English name")
]
Quote = Annotated[Literal["KRW", "BTC", "USDT"], Field(description="quote currency")]


def _market(conn: Conn, coin: str) -> str:
    return an_resolver.resolve_market(conn, coin).market


# --------------------------------------------------------------------------- tools
def market_overview(conn: Conn, quote: Quote = "KRW") -> ToolOutput:
    o = an_overview.market_overview(conn, quote=quote)
    return ToolOutput(o.to_context(), o.model_dump(mode="json"), o.freshness)


def coin_brief(conn: Conn, coin: CoinText) -> ToolOutput:
    b = an_coin.coin_brief(conn, _market(conn, coin))
    return ToolOutput(b.to_context(), b.model_dump(mode="json"), b.freshness)


def top_movers(
    conn: Conn,
    window: Annotated[
        Literal["1m", "5m", "1h", "24h", "rolling_24h"], Field(description="24h = since previous close")
    ] = "24h",
    direction: Annotated[
        Literal["gainers", "losers", "both", "value", "active"],
        Field(description="both = by |change|; value = most traded; active = most fills"),
    ] = "both",
    limit: Annotated[int, Field(ge=1, le=50)] = 10,
    quote: Quote = "KRW",
) -> ToolOutput:
    m = an_movers.top_movers(conn, window=window, direction=direction, limit=limit, quote=quote)
    out = ToolOutput(m.to_context(), m.model_dump(mode="json"), m.freshness, m.truncated)
    cap_list(out, out.data["items"])
    return out


CANDLE_COLUMNS = ["t", "open", "high", "low", "close", "volume", "value_krw", "fills"]


def _csv_number(value: float | int | None) -> str:
    # repr is the shortest text that reads back as the same float: no digit is rounded away.
    return "" if value is None else repr(value)


class CompactCandles(BaseModel):
    """Candles as compact rows: one CSV line per candle under one header, instead of one JSON object each (a third
    fewer bytes, and a client validates one string per candle instead of eight keys)."""

    market: str
    interval: Literal["1m", "5m", "1h", "1d"]
    columns: list[str] = Field(default_factory=lambda: list(CANDLE_COLUMNS))
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


def candles_text(series: CandleSeries, budget: int = TEXT_BUDGET) -> tuple[str, bool]:
    """The newest candles that fit `budget`, oldest first; when some do not fit, a last line says how to page."""
    fresh = series.freshness
    # Space-separated: "21:40,347,347" would read as one number with thousands separators.
    head = f"{series.market} {series.interval} candles (t UTC | open high low close value) {fresh.line()}"
    rows = [
        f"{c.t.astimezone(UTC).strftime('%m-%d %H:%M')} | {fmt_price(c.open)} {fmt_price(c.high)} {fmt_price(c.low)} "
        f"{fmt_price(c.close)} {fmt_krw(c.value_fills_krw)}"
        for c in series.candles
    ]
    if not rows:
        return head + "\nno candles in this range", False
    full = head + "\n" + "\n".join(rows)
    if count_tokens(full) <= budget:
        return full, False
    # Binary search on how many of the newest rows fit together with the paging note.
    lo, hi = 1, len(rows)
    best = ""
    while lo <= hi:
        keep = (lo + hi) // 2
        oldest = series.candles[-keep].t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = (
            head
            + "\n"
            + "\n".join(rows[-keep:])
            + f"\ntruncated: newest {keep} of {len(rows)} shown; for earlier candles call candles with "
            f"before={oldest} (and limit={min(keep, len(rows) - keep)})"
        )
        if count_tokens(text) <= budget:
            best, lo = text, keep + 1
        else:
            hi = keep - 1
    return (best or ctx.fit_to_budget(lambda _: full, 1, budget)), True


def candles(
    conn: Conn,
    coin: CoinText,
    interval: Annotated[Literal["1m", "5m", "1h"], Field(description="candle size")] = "5m",
    limit: Annotated[int, Field(ge=1, le=500, description="candles, newest last")] = 60,
    before: Annotated[datetime | None, Field(description="page back: candles starting before this UTC time")] = None,
) -> ToolOutput:
    series = an_candles.candles(conn, _market(conn, coin), interval, limit, before=before)
    text, cut = candles_text(series)
    compact = CompactCandles.of(series)
    out = ToolOutput(text, compact.model_dump(mode="json"), series.freshness, series.truncated or cut)
    cap_list(out, out.data["rows"], keep_tail=True)
    return out


def anomalies(
    conn: Conn,
    coin: Annotated[str | None, Field(max_length=100, description="one coin; omit for all")] = None,
    status: Literal["open", "resolved", "all"] = "all",
    min_severity: Severity = "info",
    since_hours: Annotated[int, Field(ge=1, le=168, description="event-time look-back")] = 24,
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
    since_minutes: Annotated[int | None, Field(ge=1, le=10080, description="overrides since_hours")] = None,
) -> ToolOutput:
    market = _market(conn, coin) if coin else None
    fresh = freshness(conn, market=market)
    back = timedelta(minutes=since_minutes) if since_minutes else timedelta(hours=since_hours)
    since = (fresh.as_of or utcnow()) - back
    a = an_anomalies.recent_anomalies(
        conn, market=market, since=since, status=status, min_severity=min_severity, limit=limit
    )
    out = ToolOutput(a.to_context(), a.model_dump(mode="json"), a.freshness, a.truncated)
    cap_list(out, out.data["items"])
    return out


def latest_summary(
    conn: Conn,
    kind: Literal["market_summary", "coin_qa", "anomaly_interpretation"] = "market_summary",
    coin: Annotated[str | None, Field(max_length=100, description="results about this coin")] = None,
) -> ToolOutput:
    market = _market(conn, coin) if coin else None
    s = an_summaries.latest_summary(conn, kind=kind, market=market)
    return ToolOutput(s.to_context(), s.model_dump(mode="json"), s.freshness)


def search_markets(
    conn: Conn, query: Annotated[str, Field(min_length=1, max_length=200, description="name, code or question")]
) -> ToolOutput:
    res = an_resolver.resolve(conn, query)
    matches = an_resolver.find_coins(conn, query)[:20]
    text = res.to_context()
    if len(matches) > 1:
        text += "\nnamed: " + ", ".join(m.market for m in matches)
    matched = [m.model_dump(mode="json") for m in matches]
    return ToolOutput(text, res.model_dump(mode="json"), freshness(conn), extra={"matches": matched})


def indicators(
    conn: Conn,
    coin: CoinText,
    interval: Annotated[Literal["1m", "5m", "1h", "1d"], Field(description="candle size")] = "1h",
    include_open: Annotated[bool, Field(description="also use the unfinished candle")] = False,
) -> ToolOutput:
    ind = an_indicators.indicators(conn, _market(conn, coin), interval, include_open=include_open)
    fresh = ind.freshness or freshness(conn, market=ind.market)
    return ToolOutput(ind.to_context(), ind.model_dump(mode="json"), fresh)


def cap_list(out: ToolOutput, items: list[Any], *, keep_tail: bool = False) -> None:
    """Drop list items (from the end, or from the start when keep_tail) until the data fits MAX_RESULT_BYTES."""
    while items and len(json.dumps(out.data, ensure_ascii=False).encode()) > MAX_RESULT_BYTES:
        drop = max(1, len(items) // 10)
        if keep_tail:
            del items[:drop]
        else:
            del items[-drop:]
        out.truncated = True


REGISTRY: dict[str, ToolDef] = {
    t.name: t
    for t in (
        ToolDef(
            "market_overview",
            "Market overview",
            "Whole market now: breadth (up/down vs prev close, 5m, 1h), traded value, top gainers/losers/value "
            "leaders, BTC/ETH, 5m movers, open anomalies.",
            market_overview,
            "overview",
            budget=ctx.OVERVIEW_BUDGET,
            data_doc="analytics.models.MarketOverview",
        ),
        ToolDef(
            "coin_brief",
            "Coin brief",
            "One coin: price, change 1m/5m/1h/24h, value vs its 24h hourly average, day/52w range position, buy "
            "share, caution flags, recent anomalies.",
            coin_brief,
            "brief",
            budget=ctx.COIN_BRIEF_BUDGET,
            data_doc="analytics.models.CoinBrief",
            examples={"coin": "KRW-BTC"},
        ),
        ToolDef(
            "top_movers",
            "Top movers",
            "Top markets over a window (24h = since Upbit's previous close, 09:00 KST): by signed % change, traded "
            "value or number of fills.",
            top_movers,
            "movers",
            data_doc="analytics.models.MoversResult",
        ),
        ToolDef(
            "candles",
            "Candles",
            "OHLC candles with traded value for one coin, oldest first. Long series are cut to fit; the last line "
            "then says how to page back with `before`.",
            candles,
            "candles",
            data_doc="CompactCandles: columns + one CSV row per candle (exact floats)",
            examples={"coin": "KRW-BTC"},
        ),
        ToolDef(
            "indicators",
            "Technical indicators",
            "RSI(14), MACD(12,26,9), Bollinger(20,2) %B/bandwidth, SMA/EMA 20/50/200, volume vs 20-candle average "
            "for one coin at its last closed candle, each labelled with its interval.",
            indicators,
            "indicators",
            budget=ctx.INDICATORS_BUDGET,
            data_doc="analytics.models.IndicatorSet (docs/indicators.md)",
            examples={"coin": "KRW-BTC"},
        ),
        ToolDef(
            "anomalies",
            "Anomalies",
            "Detected anomaly events (value spikes, price jumps, caution flags, market moves), newest first.",
            anomalies,
            "anomalies",
            data_doc="analytics.models.AnomalyList",
        ),
        ToolDef(
            "latest_summary",
            "Latest summary",
            "Newest stored AI market summary (or coin answer / anomaly reading) with its age.",
            latest_summary,
            "summary",
            data_doc="analytics.models.SummaryResult",
        ),
        ToolDef(
            "search_markets",
            "Search markets",
            "Resolve coin names (Korean/English, short forms like 비트/이더, typos) to Upbit markets.",
            search_markets,
            "resolution",
            budget=ctx.RESOLUTION_BUDGET + 40,
            data_doc="resolution (found/ambiguous/not_found) and matches",
            examples={"query": "비트랑 이더"},
        ),
    )
}


def get(name: str) -> ToolDef:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ToolInputError(f"no tool named {name!r}; tools: {', '.join(REGISTRY)}") from None


def register(tool: ToolDef) -> None:
    """Add a tool (e.g. from another analytics module) to the one registry both MCP and Claude read."""
    REGISTRY[tool.name] = tool


def claude_tools(names: list[str] | None = None) -> list[dict[str, Any]]:
    """Tool definitions in the Messages API form, in registry order."""
    return [t.claude_tool() for t in REGISTRY.values() if names is None or t.name in names]


def model_visible_definitions() -> str:
    """The tool definitions as one JSON text: name + description + input schema of every tool (what a model sees)."""
    return json.dumps(claude_tools(), ensure_ascii=False, separators=(",", ":"))


# How a model should answer a market question with these tools: the system prompt of `upbit-llm ask` with Claude
# and the MCP prompt ask_market, so both doors ask the same way.
ASK_RULES = {
    "en": """You answer questions about the Upbit (Korean crypto exchange) KRW market with the tools given.
Call the fewest tools that answer the question (several in one turn when independent); at most 3 rounds of tool calls.
Use only numbers that appear in tool results, copied as written; never compute new figures or use outside knowledge.
Say the as-of time. Answer in the question's language, in 2-6 sentences or a short list.
For "should I buy/sell" questions give the facts and say plainly that this is not investment advice.""",
    "ko": """업비트 원화 마켓에 대한 질문에 주어진 도구로 답하세요.
필요한 도구만 호출하세요(서로 독립이면 한 번에 여러 개). 도구 호출은 최대 3번의 라운드까지입니다.
숫자는 도구 결과에 나온 것만 적힌 그대로 쓰고, 새 수치를 계산하거나 외부 지식을 쓰지 마세요.
기준 시각을 밝히세요. 질문한 언어로 2~6문장 또는 짧은 목록으로 답하세요.
"사도 돼?" 같은 질문에는 사실만 전하고 투자 권유가 아니라고 분명히 말하세요.""",
}
