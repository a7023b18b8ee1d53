"""Token budgets for compact contexts: render at decreasing detail until the text fits, counted by the real BPE."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from analytics.tokens import count_tokens

log = logging.getLogger(__name__)

# The budgets the issue sets (tokens, by the offline Claude BPE).
OVERVIEW_BUDGET = 500
COIN_BRIEF_BUDGET = 250
MOVERS_BUDGET = 300
CANDLES_BUDGET = 600
ANOMALIES_BUDGET = 300
SUMMARY_BUDGET = 400
RESOLUTION_BUDGET = 120
INDICATORS_BUDGET = 300


def fit_to_budget(render: Callable[[int], str], levels: int, budget: int) -> str:
    """The most detailed rendering (level 0 = most detail) whose token count is within `budget`.

    If even the last level is too long, lines are dropped from the end (then the text is cut) so the budget is a
    guarantee, not a hope.
    """
    text = ""
    ratio: float | None = None  # tokens per character, learnt from the first count, to skip hopeless levels
    for level in range(levels):
        text = render(level)
        if ratio is not None and level < levels - 1 and len(text) * ratio > budget * 1.15:
            continue
        n = count_tokens(text)
        if n <= budget:
            return text
        ratio = n / max(1, len(text))
    lines = text.splitlines()
    while len(lines) > 1 and count_tokens("\n".join(lines)) > budget:
        lines.pop()
    text = "\n".join(lines)
    while text and count_tokens(text) > budget:
        text = text[: int(len(text) * 0.9)]
    log.warning("context cut to fit budget=%s", budget)
    return text


def fmt_time(ts: datetime | None) -> str:
    """Event time as compact UTC ISO (seconds)."""
    if ts is None:
        return "n/a"
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_hm(ts: datetime | None) -> str:
    if ts is None:
        return "n/a"
    return ts.astimezone(UTC).strftime("%H:%MZ")


def fmt_lag(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def coverage(seconds: float | None, window_seconds: float) -> str:
    """ " (56s of data)" when a window's figure rests on less data than the window spans; "" when it is covered."""
    if seconds is None or seconds >= window_seconds - 60:
        return ""
    s = max(0.0, seconds)
    return f" ({s:.0f} s of data)" if s < 120 else f" ({s / 60:.0f} min of data)"


def short_code(market: str, quote: str = "KRW") -> str:
    """KRW-BTC → BTC when the quote is stated in the header; other quotes keep the full code."""
    prefix = quote + "-"
    return market[len(prefix) :] if market.startswith(prefix) else market
