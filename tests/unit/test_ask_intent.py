"""The offline intent router on its own (markets given as the resolver would find them)."""

from __future__ import annotations

import pytest

from llm.intent import about_a_coin, classify, language_of, span_minutes

B, E = "KRW-BTC", "KRW-ETH"


@pytest.mark.parametrize(
    ("question", "markets", "kind", "window", "direction"),
    [
        ("지금 제일 많이 오른 코인 뭐야?", [], "movers", "24h", "gainers"),
        ("오늘 가장 많이 떨어진 코인은?", [], "movers", "24h", "losers"),
        ("거래대금 제일 많은 코인 알려줘", [], "movers", "24h", "value"),
        ("요즘 핫한 코인 뭐 있어?", [], "movers", "24h", "active"),
        ("최근 1시간 동안 제일 많이 오른 코인", [], "movers", "1h", "gainers"),
        ("biggest losers over the last 5 minutes", [], "movers", "5m", "losers"),
        ("top gainers over 24 hours", [], "movers", "rolling_24h", "gainers"),
        ("시장 분위기 어때?", [], "mood", None, None),
        ("최근 1시간 이상거래 있었어?", [], "anomalies", "60m", None),
        ("도지 1시간 동안 어땠어?", ["KRW-DOGE"], "history", "60m", None),
        ("비트랑 이더 어때?", [B, E], "compare", None, None),
        ("솔라나 사도 돼?", ["KRW-SOL"], "advice", None, None),
        ("비트 어때", [B], "coin", None, None),
    ],
)
def test_classify(question: str, markets: list[str], kind: str, window: str | None, direction: str | None) -> None:
    intent = classify(question, markets)
    assert (intent.kind, intent.window, intent.direction) == (kind, window, direction)


def test_language_and_spans() -> None:
    assert language_of("도지 어때") == "ko" and language_of("how is BTC") == "en"
    assert span_minutes("최근 30분") == 30 and span_minutes("last 2 hours") == 120 and span_minutes("한 시간") == 60
    assert span_minutes("오늘") is None


def test_a_page_question_naming_no_coin_is_about_the_page_coin_unless_it_is_market_wide() -> None:
    assert about_a_coin("지금 어때?", [])
    assert not about_a_coin("시장 분위기 어때?", []) and not about_a_coin("제일 많이 오른 코인", [])
    assert not about_a_coin("이더 어때?", [E])
