"""Indicator questions in coin Q&A ("RSI 과매수야?", "볼린저 밴드 상단이야?") on a simulator-filled database: the
offline analyst answers with the analytics layer's readings, Claude gets them in its context, and a stated RSI that
is not the context's RSI is caught even when the figure appears elsewhere in the context."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from analytics.indicators import indicators
from analytics.units import fmt_num, fmt_price
from db.connection import connect
from llm.qa import answer_question
from tests.support.analyst_data import clear_llm_state, filled_database
from tests.support.fake_anthropic import FakeAnthropic, Scripted, default_answer
from upbit_core.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def market_db() -> Iterator[Settings]:
    # 40 minutes: RSI14, MACD and Bollinger warm up on 1m candles; 5m and 1h are still too short.
    yield from filled_database(markets=10, seconds=40 * 60, rate=8)


@pytest.fixture
def filled(market_db: Settings) -> Settings:
    clear_llm_state(market_db)
    return market_db


def _reading(settings: Settings, interval: str = "1m"):  # type: ignore[no-untyped-def]
    conn = connect(settings)
    try:
        return indicators(conn, "KRW-BTC", interval)  # type: ignore[arg-type]
    finally:
        conn.close()


def test_an_rsi_question_is_answered_offline_with_the_reading_and_its_zone(filled: Settings) -> None:
    answer = answer_question(filled, "비트코인 RSI 과매수야?")
    want = _reading(filled)
    assert answer.status == "answered" and answer.offline and answer.grounded, answer.grounding_issues
    assert want.rsi14 is not None
    assert f"RSI14(1m) {fmt_num(want.rsi14)}" in answer.text
    assert any(zone in answer.text for zone in ("과매수 구간", "과매도 구간", "중립 구간"))


def test_a_bollinger_question_names_the_bands_and_where_the_close_is(filled: Settings) -> None:
    answer = answer_question(filled, "비트 볼린저 밴드 상단이야?")
    want = _reading(filled)
    assert answer.grounded, answer.grounding_issues
    assert f"볼린저 밴드(1m) 상단/중심/하단 {fmt_price(want.bb_upper)}" in answer.text
    assert f"%B {fmt_num(want.bb_percent_b, 2)}" in answer.text


def test_an_hourly_rsi_question_without_enough_candles_says_why_instead_of_a_number(filled: Settings) -> None:
    answer = answer_question(filled, "비트코인 1시간 RSI 얼마야?")
    assert answer.grounded, answer.grounding_issues
    assert "RSI14(1h)는 아직 계산할 수 없습니다" in answer.text and "needs 15 1h candles" in answer.text


def test_claude_gets_the_indicator_context_and_a_wrong_rsi_is_caught_even_if_the_figure_is_elsewhere(
    filled: Settings,
) -> None:
    want = _reading(filled)
    assert want.rsi14 is not None
    with FakeAnthropic() as fake:
        settings = filled.model_copy(
            update={
                "anthropic_api_key": SecretStr("sk-ant-test"),
                "anthropic_base_url": fake.url,
                "anthropic_max_retries": 0,
                "anthropic_timeout_seconds": 10,
            }
        )
        # A figure that is in the context (the 1m close, the 1m candle count...) but is not the RSI.
        decoy = str(want.candles)
        planted = Scripted.answer(lambda body: default_answer(body) + f" 1분봉 RSI는 {decoy}입니다.")
        fake.enqueue(planted, planted)
        answer = answer_question(settings, "비트코인 RSI 과매수야?")
        user = fake.message_requests()[0].body["messages"][0]["content"]
    assert f"RSI14(1m) {fmt_num(want.rsi14)}" in user and "KRW-BTC indicators 1m" in user
    assert answer.grounded is False
    assert [i["text"] for i in answer.grounding_issues] == [f"RSI(1m) {decoy}"]
