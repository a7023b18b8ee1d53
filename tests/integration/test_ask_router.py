"""`ask` without a key on a simulator-filled 160-market database: a table of questions (Korean, English, mixed,
typos, slang) with the expected intent, markets and window, ≥ 95 % right; ranking answers checked against SQL written
here, independently of the analytics layer; answers are in the question's language, grounded, cached per minute of
data, and fast."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from bench.common import percentile
from bench.realistic import fill_realistic
from db.connection import connect
from llm.ask import ask
from tests.conftest import make_scratch_db
from upbit_core.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

B, E, X, D, S = "KRW-BTC", "KRW-ETH", "KRW-XRP", "KRW-DOGE", "KRW-SOL"

# (question, intent, markets, window)
TABLE: list[tuple[str, str, list[str], str | None]] = [
    ("지금 제일 많이 오른 코인 뭐야?", "movers", [], "24h"),
    ("오늘 가장 많이 떨어진 코인은?", "movers", [], "24h"),
    ("거래대금 제일 많은 코인 알려줘", "movers", [], "24h"),
    ("요즘 핫한 코인 뭐 있어?", "movers", [], "24h"),
    ("최근 1시간 동안 제일 많이 오른 코인", "movers", [], "1h"),
    ("5분 동안 급등한 코인 있어?", "movers", [], "5m"),
    ("1분 사이에 제일 많이 떨어진 코인", "movers", [], "1m"),
    ("24시간 기준 상승률 top 10", "movers", [], "rolling_24h"),
    ("전일 대비 하락률 상위 코인", "movers", [], "24h"),
    ("떡상한 코인 뭐임", "movers", [], "24h"),
    ("떡락 코인 알려줘", "movers", [], "24h"),
    ("거래량 많은 코인", "movers", [], "24h"),
    ("top gainers in the last hour", "movers", [], "1h"),
    ("which coins dropped the most today", "movers", [], "24h"),
    ("most traded coins by value", "movers", [], "24h"),
    ("most active coins right now", "movers", [], "24h"),
    ("biggest losers over the last 5 minutes", "movers", [], "5m"),
    ("top gainers over 24 hours", "movers", [], "rolling_24h"),
    ("gainers since previous close", "movers", [], "24h"),
    ("거래대금 상위 5개 코인", "movers", [], "24h"),
    ("지난 1시간 거래대금 많은 코인", "movers", [], "1h"),
    ("한 시간 동안 많이 빠진 코인", "movers", [], "1h"),
    ("오늘 상승률 1위 코인이 뭐야", "movers", [], "24h"),
    ("top 3 losers 1h", "movers", [], "1h"),
    ("오늘 top gainers 알려줘", "movers", [], "24h"),
    ("제일 마니 오른 코인 머야", "movers", [], "24h"),
    ("시장 분위기 어때?", "mood", [], None),
    ("what's the market doing right now?", "mood", [], None),
    ("오늘 장 어때?", "mood", [], None),
    ("코인 시장 전체적으로 어때", "mood", [], None),
    ("how's the overall market sentiment", "mood", [], None),
    ("업비트 지금 분위기", "mood", [], None),
    ("시황 알려줘", "mood", [], None),
    ("is the crypto market up or down today?", "mood", [], None),
    ("최근 1시간 이상거래 있었어?", "anomalies", [], "60m"),
    ("지금 이상한 움직임 있는 코인 있어?", "anomalies", [], None),
    ("anything unusual in the last 30 minutes?", "anomalies", [], "30m"),
    ("비트코인 이상 징후 있어?", "anomalies", [B], None),
    ("any anomalies now?", "anomalies", [], None),
    ("최근 10분 특이사항", "anomalies", [], "10m"),
    ("이더 이상거래 최근 2시간", "anomalies", [E], "120m"),
    ("unusual activity on XRP today", "anomalies", [X], None),
    ("도지 1시간 동안 어땠어?", "history", [D], "60m"),
    ("비트 최근 30분 흐름", "history", [B], "30m"),
    ("how did ETH do over the last 2 hours", "history", [E], "120m"),
    ("솔라나 차트 보여줘", "history", [S], "60m"),
    ("리플 지난 하루 추이", "history", [X], "1440m"),
    ("BTC price action over the past hour", "history", [B], "60m"),
    ("이더리움 5분 동안 움직임", "history", [E], "5m"),
    ("ETH 1시간 차트", "history", [E], "60m"),
    ("W코인 지금 어때?", "coin", ["KRW-W"], None),
    ("비트 어때", "coin", [B], None),
    ("이더리음 가격", "coin", [E], None),
    ("리플 요즘 어때?", "coin", [X], None),
    ("how is dogecoin doing", "coin", [D], None),
    ("솔라나 시세", "coin", [S], None),
    ("ethereum", "coin", [E], None),
    ("BTC 지금 얼마야?", "coin", [B], None),
    ("비트랑 이더 어때?", "compare", [B, E], None),
    ("BTC vs ETH", "compare", [B, E], None),
    ("리플이랑 도지 비교해줘", "compare", [X, D], None),
    ("compare solana and ethereum", "compare", [S, E], None),
    ("비트, 이더, 리플 중에 뭐가 제일 좋아?", "compare", [B, E, X], None),
    ("솔라나 사도 돼?", "advice", [S], None),
    ("should I buy ETH?", "advice", [E], None),
    ("지금 비트 매수해도 될까?", "advice", [B], None),
    ("도지 팔까?", "advice", [D], None),
    ("is XRP worth buying now", "advice", [X], None),
]


@pytest.fixture(scope="module")
def market() -> Iterator[Settings]:
    gen = make_scratch_db()
    settings = next(gen)
    try:
        fill_realistic(settings, markets=160, minutes=75)
        yield settings
    finally:
        gen.close()


def test_the_router_gets_at_least_95_percent_of_the_question_table_right_offline(market: Settings) -> None:
    assert len(TABLE) >= 60
    wrong = []
    ungrounded = []
    latencies = []
    for question, intent, markets, window in TABLE:
        r = ask(market, question)
        latencies.append(r.latency_ms or 0)
        got = (r.intent, r.markets, r.window)
        if got != (intent, markets, window) or r.status != "answered":
            wrong.append((question, got, (intent, markets, window), r.status))
            continue
        # the answer is in the question's language, offline, with its numbers found in the tool results
        hangul = bool(re.search(r"[가-힣]", question))
        assert r.offline and r.model == "offline-analyst"
        assert ("오프라인" in r.text) == hangul, (question, r.text)
        if intent == "advice":
            assert "투자 권유가 아닙니다" in r.text or "not investment advice" in r.text
        if not r.grounded:
            ungrounded.append((question, r.text, r.grounding_issues))
    right = len(TABLE) - len(wrong)
    assert right / len(TABLE) >= 0.95, wrong
    assert not ungrounded, ungrounded
    slow = sorted(zip(latencies, [q for q, *_ in TABLE], strict=True))[-6:]
    # The goal is p95 <= 500 ms on this 2-core machine; when other suites load it (load average above 4) the bound
    # scales with the load, and the benchmark (bench/ask.py) reports the figure next to the load it ran under.
    bound = 500 * max(1.0, os.getloadavg()[0] / 4)
    assert percentile([float(v) for v in latencies[1:]], 95) <= bound, slow  # the first call warms the catalog


def _symbols_in_order(text: str) -> list[str]:
    return re.findall(r"^- (?:[^\s(]*\()?([A-Z0-9]+)", text, re.M)


def _sql(settings: Settings, query: str) -> list[str]:
    conn = connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return [r[0].split("-", 1)[1] for r in cur.fetchall()]
    finally:
        conn.close()


LISTED_LATEST = "FROM ticker_latest t JOIN markets m ON m.code = t.code WHERE m.listed AND t.code LIKE 'KRW-%'"


@pytest.mark.parametrize(
    ("question", "query"),
    [
        (
            "지금 제일 많이 오른 코인 뭐야?",
            f"SELECT t.code {LISTED_LATEST} AND signed_change_rate > 0 ORDER BY signed_change_rate DESC LIMIT 5",
        ),
        (
            "which coins dropped the most today",
            f"SELECT t.code {LISTED_LATEST} AND signed_change_rate < 0 ORDER BY signed_change_rate LIMIT 5",
        ),
        ("거래대금 제일 많은 코인 알려줘", f"SELECT t.code {LISTED_LATEST} ORDER BY acc_trade_price_24h DESC LIMIT 5"),
        # most fills over 24 h: every tick of the 75 simulated minutes, counted from the raw table
        (
            "most active coins over 24 hours",
            "SELECT d.code FROM ticker_data d JOIN markets m ON m.code = d.code WHERE m.listed "
            "GROUP BY d.code ORDER BY count(*) DESC LIMIT 5",
        ),
        # 1 h gainers: latest price vs the last fill before the minute that ends 60 minutes before as-of
        (
            "top gainers in the last hour",
            """WITH a AS (SELECT max(time) AS t FROM ticker_latest),
                 r AS (SELECT t.code, t.trade_price AS now_price,
                         (SELECT d.trade_price FROM ticker_data d, a
                           WHERE d.code = t.code
                             AND d.time < date_trunc('minute', a.t - interval '61 minutes') + interval '1 minute'
                           ORDER BY d.time DESC, d.acc_trade_volume DESC LIMIT 1) AS ref
                       FROM ticker_latest t JOIN markets m ON m.code = t.code WHERE m.listed)
               SELECT code FROM r WHERE now_price > ref ORDER BY now_price / ref DESC LIMIT 5""",
        ),
    ],
)
def test_movers_rankings_match_independent_sql(market: Settings, question: str, query: str) -> None:
    r = ask(market, question)
    assert r.status == "answered" and r.intent == "movers", r
    assert _symbols_in_order(r.text) == _sql(market, query), r.text


def test_an_identical_question_in_the_same_minute_of_data_is_answered_from_storage(market: Settings) -> None:
    first = ask(market, "시장 분위기 어때?  ")
    again = ask(market, "시장   분위기 어때?")
    assert again.cached and again.result_id == first.result_id and again.text == first.text


def test_unknown_and_ambiguous_questions_get_a_clear_answer(market: Settings) -> None:
    which = ask(market, "bit")
    assert which.status == "ambiguous" and which.candidates
    nothing = ask(market, "qwzx")
    assert nothing.status in ("not_found", "ambiguous") and nothing.text
    assert ask(market, "").status == "invalid" and ask(market, "x" * 600).status == "invalid"
