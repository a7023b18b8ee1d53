"""Indicator facts for the number verifier: a stated RSI must equal the context's RSI for the interval it names.

The general grounding check only asks that a number appear somewhere in the context; an RSI of "55" would pass
because a buy share of 55% is there. This check reads the context's labelled readings ("RSI14(1h) 71.2", written by
analytics.models.IndicatorSet) and every RSI the answer states ("RSI14(1h) 71.2", "1시간 RSI 71", "hourly RSI of
71.2", "RSI는 71.2") and compares value with value, interval with interval, within the answer's written rounding.
Thresholds ("RSI 70 이상이면 과매수", "above 70") are not claims about the coin and are skipped.
"""

from __future__ import annotations

import json
import re
from typing import Any

from llm.grounding import GroundingIssue

# "RSI14(1h) 71.2" or "RSI14(1h) n/a" in a context.
_CONTEXT_RSI = re.compile(r"RSI14\((?P<iv>1m|5m|1h|1d)\)\s+(?P<val>n/a|\d+(?:\.\d+)?)")

# An RSI stated in an answer: optional interval before ("1시간 RSI", "hourly RSI", "1h RSI") or in the label
# ("RSI14(1h)", "RSI(14, 1h)"), then the figure within a few non-digit characters ("RSI는 71.2", "RSI of 71").
_IV_WORDS = (
    r"(?P<pre>1\s?분봉?|5\s?분봉?|1\s?시간봉?|시간봉|일봉|일간|1m|5m|1h|1d|1-minute|5-minute|hourly|1-hour|daily)"
)
_ANSWER_RSI = re.compile(
    rf"(?:{_IV_WORDS}\s*(?:기준\s*)?)?"
    r"RSI\s*(?:14(?![\d.]))?+\s*(?:\(\s*(?:14\s*,\s*)?(?P<iv>1m|5m|1h|1d)?\s*\))?+"
    r"(?P<gap>[^\d\n()]{0,14}?)(?P<val>\d+(?:\.\d+)?)(?!\d|\.\d|[A-Za-z])"
    r"(?P<after>\s*(?:%|퍼센트)?\s*(?:(?:을|를|이|가)(?![가-힣]))?\s*(?:이상|이하|초과|미만|넘|밑|기준|above|below|over|under|threshold)?)",
    re.IGNORECASE,
)

_IV_OF_WORD = {
    "1분": "1m",
    "1분봉": "1m",
    "5분": "5m",
    "5분봉": "5m",
    "1시간": "1h",
    "1시간봉": "1h",
    "시간봉": "1h",
    "일봉": "1d",
    "일간": "1d",
    "1-minute": "1m",
    "5-minute": "5m",
    "hourly": "1h",
    "1-hour": "1h",
    "daily": "1d",
}


def context_rsi(context: Any) -> dict[str, float | None]:
    """Interval → RSI14 stated in the context (None where it says n/a)."""
    text = context if isinstance(context, str) else json.dumps(context, ensure_ascii=False, default=str)
    facts: dict[str, float | None] = {}
    for m in _CONTEXT_RSI.finditer(text):
        facts.setdefault(m.group("iv"), None if m.group("val") == "n/a" else float(m.group("val")))
    return facts


def _interval(pre: str | None, label: str | None) -> str | None:
    if label:
        return label
    if not pre:
        return None
    key = pre.replace(" ", "").lower()
    return _IV_OF_WORD.get(key, key if key in ("1m", "5m", "1h", "1d") else None)


def rsi_issues(answer: str, context: Any) -> list[GroundingIssue]:
    """Stated RSI values that are not the context's RSI for their interval (or for any interval when none is
    named)."""
    facts = context_rsi(context)
    issues: list[GroundingIssue] = []
    for m in _ANSWER_RSI.finditer(answer):
        after = (m.group("after") or "").strip()
        if after and not after.startswith(("%", "퍼센트")) and not re.fullmatch(r"(?:을|를|이|가)", after):
            continue  # a threshold ("RSI 70 이상", "RSI above 70"), not this coin's reading
        if any(w in (m.group("gap") or "").lower() for w in ("above", "below", "over", "under", "기준")):
            continue
        raw = m.group("val")
        value = float(raw)
        decimals = len(raw.split(".", 1)[1]) if "." in raw else 0
        tolerance = 0.5 * 10.0 ** (-decimals) + 1e-9
        interval = _interval(m.group("pre"), m.group("iv"))
        candidates = [facts.get(interval)] if interval is not None else list(facts.values())
        known = [c for c in candidates if c is not None]
        # Within the written rounding, or the context's value cut to the written digits ("71" for 71.8).
        ok = any(abs(value - c) <= tolerance or 0 <= c - value < 2 * tolerance for c in known)
        if not ok:
            nearest = min(known, key=lambda c: abs(c - value)) if known else None
            label = f"RSI({interval})" if interval else "RSI"
            issues.append(GroundingIssue(text=f"{label} {raw}", value=value, nearest=nearest))
    return issues
