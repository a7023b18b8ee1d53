"""The verifier knows indicator facts: a stated RSI must match the context's RSI for the interval it names."""

from __future__ import annotations

import pytest

from llm.indicator_facts import context_rsi, rsi_issues
from llm.verify import verify

CONTEXT = (
    "KRW-BTC 비트코인 as of 2026-11-29T12:00:00Z\n"
    "buy share 1h 55% of fill value; day bid/ask volume 1.40x\n"
    "indicators 1h (closed 11:00Z): RSI14(1h) 71.2 overbought; BB %B(1h) 0.93\n"
    "KRW-BTC indicators 5m: 60 closed 5m candles\nRSI14(5m) 48.6 neutral (overbought >= 70, oversold <= 30)\n"
    "RSI14(1d) n/a\n"
)


def test_the_context_rsi_is_read_per_interval_with_na_kept() -> None:
    assert context_rsi(CONTEXT) == {"1h": 71.2, "5m": 48.6, "1d": None}
    assert context_rsi({"text": CONTEXT})["1h"] == 71.2


@pytest.mark.parametrize(
    "answer",
    [
        "1시간 RSI14가 71.2로 과매수 구간입니다.",
        "RSI14(1h) 71.2 — overbought.",
        "The hourly RSI is 71.2.",
        "5분봉 RSI는 48.6입니다.",
        "5m RSI 48.6",
        "RSI는 71로 과매수입니다.",  # no interval named: any context RSI, written rounding
        "RSI 70 이상이면 과매수로 봅니다. 1시간 RSI 71.2.",  # 70 is a threshold, not a reading
        "RSI above 70 means overbought; hourly RSI 71.2.",
        "RSI14(1d)는 아직 계산할 수 없습니다: 1d 봉 0개로는 부족합니다.",  # n/a said, no reading stated
    ],
)
def test_an_rsi_that_matches_its_intervals_context_value_passes(answer: str) -> None:
    assert rsi_issues(answer, CONTEXT) == []
    assert not verify(answer, CONTEXT).flagged


def test_an_rsi_labelled_with_period_and_interval_is_read() -> None:
    assert rsi_issues("RSI(14, 5m) 48.6", CONTEXT) == []
    assert [i.nearest for i in rsi_issues("RSI(14, 1h) 48.6", CONTEXT)] == [71.2]


@pytest.mark.parametrize(
    ("answer", "nearest"),
    [
        ("1시간 RSI는 48.6입니다.", 71.2),  # the 5m value stated as the hourly one
        ("RSI14(5m) 71.2", 48.6),
        ("hourly RSI of 55", 71.2),  # 55 is in the context (buy share), but it is not the RSI
        ("일봉 RSI 40.0", None),  # n/a in the context: no daily RSI may be stated
        ("RSI is 63.", 71.2),
    ],
)
def test_an_rsi_that_is_not_the_contexts_rsi_for_its_interval_is_an_issue(answer: str, nearest: float | None) -> None:
    issues = rsi_issues(answer, CONTEXT)
    assert len(issues) == 1 and issues[0].nearest == nearest, issues
    report = verify(answer, CONTEXT)  # the verifier every flow uses flags it
    assert not report.ok and [text for text, _ in report.flagged] == [issues[0].text]
