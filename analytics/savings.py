"""Token savings: the raw latest tickers (JSON) versus every compact context, for `upbit-llm tokens` and the bench."""

from __future__ import annotations

from collections.abc import Callable

import psycopg2.extensions
from pydantic import BaseModel, Field

from analytics import anomalies, candles, coin, context, movers, overview, summaries
from analytics.raw import raw_latest_json
from analytics.tokens import count_tokens, tokenizer_name


class ContextSize(BaseModel):
    name: str
    tokens: int
    budget: int | None
    within_budget: bool | None
    saving_pct: float | None = Field(description="percent fewer tokens than the raw tickers")
    api_tokens: int | None = None


class TokenReport(BaseModel):
    tokenizer: str
    counting: str = Field(default="estimate (offline tokenizer)", description="how `tokens` figures were counted")
    focus: str | None = Field(default=None, description="the coin the per-coin contexts are about")
    markets: int
    raw_tokens: int
    raw_bytes: int
    raw_api_tokens: int | None = None
    contexts: list[ContextSize]
    goal_met: bool = Field(description="≥150 markets, overview ≤ 500 tokens, raw ≥ 40K, saving ≥ 99 %")


def measure(
    conn: psycopg2.extensions.connection, *, api_counter: Callable[[str], int | None] | None = None
) -> TokenReport:
    """Count the raw baseline and each context on the current database (the brief: the market's top value coin)."""
    raw, markets = raw_latest_json(conn)
    raw_tokens = count_tokens(raw)
    ov = overview.market_overview(conn)
    focus = ov.value_leaders[0].market if ov.value_leaders else (ov.btc.market if ov.btc else None)
    texts: list[tuple[str, Callable[[], str], int | None]] = [
        ("market_overview", ov.to_context, context.OVERVIEW_BUDGET),
        ("top_movers 24h", lambda: movers.top_movers(conn, window="24h").to_context(), context.MOVERS_BUDGET),
        ("anomalies", lambda: anomalies.recent_anomalies(conn).to_context(), context.ANOMALIES_BUDGET),
        ("latest_summary", lambda: summaries.latest_summary(conn).to_context(), context.SUMMARY_BUDGET),
    ]
    if focus:
        texts.insert(1, (f"coin_brief {focus}", lambda: coin.coin_brief(conn, focus).to_context(), 250))
        texts.append((f"candles {focus} 5m x60", lambda: candles.candles(conn, focus, "5m", 60).to_context(), None))
    sizes = []
    for name, render, budget in texts:
        text = render()
        n = count_tokens(text)
        sizes.append(
            ContextSize(
                name=name,
                tokens=n,
                budget=budget,
                within_budget=None if budget is None else n <= budget,
                saving_pct=round((1 - n / raw_tokens) * 100, 2) if raw_tokens else None,
                api_tokens=api_counter(text) if api_counter else None,
            )
        )
    overview_tokens = sizes[0].tokens
    goal = markets >= 150 and overview_tokens <= context.OVERVIEW_BUDGET and raw_tokens >= 40_000
    goal = goal and (sizes[0].saving_pct or 0) >= 99.0
    return TokenReport(
        tokenizer=tokenizer_name(),
        focus=focus,
        markets=markets,
        raw_tokens=raw_tokens,
        raw_bytes=len(raw.encode("utf-8")),
        raw_api_tokens=api_counter(raw) if api_counter else None,
        contexts=sizes,
        goal_met=goal,
    )
