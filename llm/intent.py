"""The offline intent router: what a market question asks (one coin, a comparison, movers, market mood, anomalies,
a coin's history, "should I buy"), over which window, in which language — from Korean or English text with slang
and typos. Pure text rules; the coins named are found by analytics.resolver and passed in.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

IntentKind = Literal["coin", "compare", "movers", "mood", "anomalies", "history", "advice", "unknown"]
Language = Literal["ko", "en"]
Direction = Literal["gainers", "losers", "value", "active"]

_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")


@dataclass
class Intent:
    kind: IntentKind
    language: Language
    markets: list[str] = field(default_factory=list)
    # movers: 1m / 5m / 1h / 24h (since previous close) / rolling_24h; history and anomalies: a span like "60m"
    window: str | None = None
    direction: Direction | None = None
    minutes: int | None = None  # history / anomalies span in minutes
    limit: int = 5

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def language_of(text: str) -> Language:
    return "ko" if _HANGUL.search(text) else "en"


def _has(text: str, *words: str) -> bool:
    return any(w in text for w in words)


_NUM_KO = {"한": 1, "두": 2, "세": 3, "네": 4, "다섯": 5, "열": 10, "삼십": 30, "십": 10, "반": 0}


def span_minutes(text: str) -> int | None:
    """A time span named in the question, in minutes ("1시간", "30분", "last 15 minutes", "한 시간", "하루", "24h")."""
    t = text.lower()
    m = re.search(r"(\d+)\s*(분|min|mins|minute|minutes|m\b)", t)
    if m:
        return int(m.group(1))
    m = re.search(r"(\d+)\s*(시간|h\b|hr|hrs|hour|hours)", t)
    if m:
        return int(m.group(1)) * 60
    m = re.search(r"(\d+)\s*(일|d\b|day|days)", t)
    if m and not re.search(r"\d+\s*일\s*(봉|선)", t):
        return int(m.group(1)) * 1440
    if _has(t, "반나절"):
        return 720
    if _has(t, "한시간", "한 시간", "an hour", "last hour", "past hour", "one hour"):
        return 60
    if _has(t, "두시간", "두 시간", "two hours"):
        return 120
    if _has(t, "하루", "a day", "past day", "last day"):
        return 1440
    if _has(t, "일주일", "한 주", "이번 주", "a week", "past week", "last week", "this week"):
        return 10080
    if _has(t, "방금", "just now"):
        return 1
    if _has(t, "30분", "삼십분", "half an hour", "half hour"):
        return 30
    return None


def movers_window(text: str, minutes: int | None) -> str:
    """The movers window: 1m / 5m / 1h / rolling_24h from a span, 24h (since previous close) for 'today' or none."""
    t = text.lower()
    if _has(t, "24시간", "24h", "24 h", "24hr", "24 hour", "rolling", "롤링", "하루 동안", "지난 하루", "past day"):
        return "rolling_24h"
    if _has(t, "오늘", "today", "전일", "어제 종가", "prev close", "previous close", "since close", "일간", "daily"):
        return "24h"
    if minutes is None:
        return "24h"
    if minutes <= 2:
        return "1m"
    if minutes <= 15:
        return "5m"
    if minutes <= 180:
        return "1h"
    return "rolling_24h"


# Keyword families, lower-case; Korean ones match inside words (particles, endings, missing spaces).
_ADVICE = (
    "사도 돼",
    "사도돼",
    "사도 될",
    "살까",
    "사야",
    "사야돼",
    "매수",
    "팔까",
    "팔아야",
    "매도",
    "물타",
    "존버",
    "들어가도",
    "투자해도",
    "투자할까",
    "should i buy",
    "should i sell",
    "buy now",
    "worth buying",
    "good buy",
    "invest in",
    "should i invest",
    "is it a buy",
    "buy or sell",
)
_ANOMALY = (
    "이상",
    "특이",
    "급변",
    "이상거래",
    "이상 거래",
    "이상징후",
    "unusual",
    "anomal",
    "abnormal",
    "weird",
    "strange",
    "spike",
    "suspicious",
    "alert",
    "알림",
    "경보",
    "펌핑",
    "펌프",
    "덤핑",
    "pump",
    "dump",
    "작전",
    "세력",
)
_GAINERS = (
    "오른",
    "올랐",
    "상승",
    "급등",
    "떡상",
    "오르",
    "gainer",
    "gain",
    "went up",
    "up the most",
    "rising",
    "rose",
    "biggest winner",
    "winners",
    "top movers up",
    "pumped",
    "best perform",
)
_LOSERS = (
    "떨어진",
    "떨어졌",
    "하락",
    "급락",
    "떡락",
    "내린",
    "내렸",
    "빠진",
    "빠졌",
    "loser",
    "fell",
    "drop",
    "down the most",
    "declin",
    "worst",
    "biggest loss",
    "crash",
    "tank",
)
_VALUE = (
    "거래대금",
    "거래 대금",
    "거래액",
    "거래 금액",
    "대금",
    "traded value",
    "trading value",
    "turnover",
    "most traded",
    "value leader",
    "money flow",
    "krw volume",
    "by value",
    "highest value",
)
_ACTIVE = (
    "핫한",
    "핫 한",
    "hot",
    "활발",
    "거래 많",
    "거래많",
    "거래량",
    "인기",
    "많이 거래",
    "most active",
    "busiest",
    "trending",
    "active",
    "체결",
    "popular",
    "volume",
)
_MOVERS_GENERIC = (
    "제일",
    "가장",
    "top",
    "most",
    "best",
    "순위",
    "랭킹",
    "ranking",
    "leaders",
    "상위",
    "어떤 코인",
    "뭐가",
)
_MOOD = (
    "분위기",
    "시장",
    "장 어때",
    "장어때",
    "전체",
    "전반",
    "시황",
    "장세",
    "market",
    "overall",
    "mood",
    "sentiment",
    "breadth",
    "how is crypto",
    "how's crypto",
    "whole",
    "업비트 어때",
    "코인판",
    "코인 시장",
    "오늘 장",
)
_HISTORY = (
    "동안",
    "어땠",
    "추이",
    "흐름",
    "차트",
    "캔들",
    "봉",
    "움직임",
    "history",
    "trend",
    "chart",
    "candle",
    "over the last",
    "over the past",
    "during the last",
    "how did",
    "how has",
    "movement",
    "price action",
    "지난",
)


def about_a_coin(question: str, markets: list[str]) -> bool:
    """Whether a question that names no coin is still about one ("지금 어때?" on a coin's page), i.e. it asks
    nothing market-wide: no movers, anomalies or market words."""
    intent = classify(question, markets)
    return not markets and (
        intent.kind in ("unknown", "advice") or (intent.kind == "mood" and not _has(question.lower(), *_MOOD))
    )


def classify(question: str, markets: list[str]) -> Intent:
    """The intent of `question` given the markets the resolver found in it (in order)."""
    text = question.strip()
    t = text.lower()
    lang = language_of(text)
    minutes = span_minutes(t)
    n = len(markets)
    if n and _has(t, *_ADVICE):
        return Intent("advice", lang, markets, direction=None)
    if _has(t, *_ANOMALY) and not (_has(t, "급등", "급락") and not _has(t, "이상", "특이", "unusual", "anomal")):
        return Intent("anomalies", lang, markets, window=f"{minutes}m" if minutes else None, minutes=minutes)
    if n >= 2:
        return Intent("compare", lang, markets)
    if n == 1:
        if minutes is not None and _has(t, *_HISTORY) or (minutes and minutes >= 5):
            return Intent("history", lang, markets, window=f"{minutes}m", minutes=minutes)
        if _has(t, "차트", "chart", "캔들", "candle", "추이", "trend", "흐름"):
            return Intent("history", lang, markets, window="60m", minutes=60)
        return Intent("coin", lang, markets)
    direction: Direction | None = None
    if _has(t, *_VALUE):
        direction = "value"
    elif _has(t, *_LOSERS):
        direction = "losers"
    elif _has(t, *_GAINERS):
        direction = "gainers"
    elif _has(t, *_ACTIVE):
        direction = "active"
    if direction is not None:
        limit = 5
        m = re.search(r"(?:top|상위|탑)\s*(\d{1,2})|(\d{1,2})\s*(?:개|위|coins)", t)
        if m:
            limit = max(1, min(20, int(m.group(1) or m.group(2))))
        return Intent("movers", lang, markets, window=movers_window(t, minutes), direction=direction, limit=limit)
    if _has(t, *_MOOD) or _has(t, *_MOVERS_GENERIC) or _has(t, "어때", "how", "what's happening", "what is happening"):
        return Intent("mood", lang, markets)
    if _has(t, *_ADVICE):
        return Intent("advice", lang, markets)
    return Intent("unknown", lang, markets)
