"""Summary, Q&A, interpretation and costs against a simulator-filled database and the Messages API stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg2
import psycopg2.extras
import pytest
from pydantic import SecretStr

from llm.claude import Usage
from llm.costs import cost_report
from llm.interpret import interpret_anomaly
from llm.pricing import cost_usd
from llm.qa import answer_question
from llm.summary import produce_summary
from tests.support.analyst_data import clear_llm_state, fill_market, filled_database, insert_anomaly
from tests.support.fake_anthropic import FakeAnthropic, Scripted, with_planted_number
from upbit_core.settings import Settings


@pytest.fixture(scope="module")
def market_db() -> Iterator[Settings]:
    yield from filled_database()


@pytest.fixture
def filled(market_db: Settings) -> Settings:
    clear_llm_state(market_db)
    return market_db


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def online(settings: Settings, fake: FakeAnthropic, **kw: object) -> Settings:
    values: dict[str, object] = {
        "anthropic_api_key": SecretStr("sk-ant-test"),
        "anthropic_base_url": fake.url,
        "anthropic_max_retries": 2,
        "anthropic_timeout_seconds": 10,
    }
    values.update(kw)
    return settings.model_copy(update=values)


def rows(settings: Settings, sql: str, params: tuple[object, ...] = ()) -> list[dict[str, object]]:
    conn = psycopg2.connect(settings.database_dsn())
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sql, params)
            return [dict(r) for r in cur.fetchall()]
    finally:
        conn.close()


def test_summary_through_claude_stores_context_within_budget_with_usage_and_cost(
    filled: Settings, fake: FakeAnthropic
) -> None:
    settings = online(filled, fake)
    outcome = produce_summary(settings)
    assert outcome.status == "created"
    [req] = fake.message_requests()
    user = req.body["messages"][0]["content"]
    assert "<CONTEXT>" in user and "breadth vs prev close" in user and "trade_timestamp" not in user
    [result] = rows(filled, "SELECT * FROM llm_results WHERE kind = 'market_summary'")
    assert result["model"] == "claude-haiku-4-5" and not result["offline"] and result["grounded"]
    assert 0 < result["context_tokens"] <= settings.llm_max_context_tokens
    assert result["as_of"] is not None and result["window_end"] - result["window_start"] == timedelta(seconds=300)
    assert result["context"]["text"] in user and result["text"]
    [call] = rows(filled, "SELECT * FROM llm_calls")
    assert call["result_id"] == result["id"] and call["status"] == "ok" and call["latency_ms"] is not None
    assert call["input_tokens"] > 0 and call["output_tokens"] > 0 and call["cache_creation_tokens"] > 0
    usage = Usage(call["input_tokens"], call["output_tokens"], call["cache_creation_tokens"], call["cache_read_tokens"])
    assert call["cost_usd"] == cost_usd("claude-haiku-4-5", usage) > Decimal(0)
    assert result["cost_usd"] == call["cost_usd"]


def test_the_same_window_twice_stores_one_summary_and_calls_claude_once(filled: Settings, fake: FakeAnthropic) -> None:
    settings = online(filled, fake)
    now = datetime.now(UTC)
    first = produce_summary(settings, now=now)
    second = produce_summary(settings, now=now + timedelta(seconds=1) if now.second % 300 < 298 else now)
    assert (first.status, second.status) == ("created", "exists")
    assert first.result["id"] == second.result["id"]
    assert len(fake.message_requests()) == 1
    assert len(rows(filled, "SELECT id FROM llm_results")) == 1


def test_a_planted_wrong_number_is_caught_and_regenerated_once_with_the_mismatch_named(
    filled: Settings, fake: FakeAnthropic
) -> None:
    fake.enqueue(Scripted.answer(with_planted_number("BTC는 +77.7% 올랐습니다.")))  # then the grounded default
    outcome = produce_summary(online(filled, fake))
    first, second = fake.message_requests()
    assert "<CORRECTION>" not in first.body["messages"][0]["content"]
    correction = second.body["messages"][0]["content"]
    assert "<CORRECTION>" in correction and '"+77.7%"' in correction
    assert outcome.result["grounded"] and "+77.7%" not in outcome.result["text"]
    assert outcome.result["payload"] == {"attempts": 2, "regenerated": True}
    calls = rows(filled, "SELECT status, error, result_id FROM llm_calls ORDER BY id")
    assert [c["status"] for c in calls] == ["ok", "regenerated"]
    assert "+77.7%" in str(calls[0]["error"]) and all(c["result_id"] == outcome.result["id"] for c in calls)


def test_an_answer_still_wrong_after_regeneration_is_stored_flagged(filled: Settings, fake: FakeAnthropic) -> None:
    planted = Scripted.answer(with_planted_number("거래대금 987,654,321원"))
    fake.enqueue(planted, planted)
    outcome = produce_summary(online(filled, fake))
    assert len(fake.message_requests()) == 2
    assert outcome.result["grounded"] is False
    assert [i["text"] for i in outcome.result["grounding_issues"]] == ["987,654,321"]


def test_the_next_summary_links_the_previous_one_and_lists_what_changed(filled: Settings) -> None:
    now = datetime.now(UTC)
    first = produce_summary(filled, now=now)
    fill_market(filled, seconds=60, seed=9)
    second = produce_summary(filled, now=now + timedelta(seconds=300))
    changes = second.result["changes"]
    assert changes["previous_id"] == first.result["id"] and changes["previous_as_of"]
    assert changes["items"] and "직전 요약 이후: " + "; ".join(changes["items"]) in second.result["text"]


def test_offline_summary_without_a_key_is_marked_free_and_grounded(filled: Settings) -> None:
    outcome = produce_summary(filled)
    assert outcome.result["offline"] and outcome.result["model"] == "offline-analyst"
    assert outcome.result["text"].startswith("[오프라인 분석") and outcome.result["grounded"]
    assert outcome.result["cost_usd"] == 0
    english = produce_summary(
        filled.model_copy(update={"report_language": "en"}), now=datetime.now(UTC) + timedelta(seconds=300)
    )
    assert english.result["text"].startswith("[offline analyst")


def test_a_question_about_two_coins_is_answered_with_as_of_and_cost_then_served_from_storage(
    filled: Settings, fake: FakeAnthropic
) -> None:
    settings = online(filled, fake)
    answer = answer_question(settings, "비트랑 이더 지금 어때?")
    assert answer.status == "answered" and answer.markets == ["KRW-BTC", "KRW-ETH"]
    assert answer.as_of and answer.cost_usd > 0 and answer.input_tokens > 0 and answer.grounded
    user = fake.message_requests()[0].body["messages"][0]["content"]
    assert "KRW-BTC" in user and "KRW-ETH" in user and "<QUESTION>\n비트랑 이더 지금 어때?" in user
    again = answer_question(settings, "비트랑 이더 지금 어때?")
    assert again.cached and again.text == answer.text and len(fake.message_requests()) == 1


@pytest.mark.parametrize(
    ("question", "status", "expected"),
    [("bit", "ambiguous", "KRW-BTT"), ("스텔 어때?", "not_found", "KRW-XLM")],
)
def test_ambiguous_coins_ask_which_and_unknown_ones_suggest(
    filled: Settings, question: str, status: str, expected: str
) -> None:
    answer = answer_question(filled, question)
    assert answer.status == status and expected in [c["market"] for c in answer.candidates]
    assert expected in answer.text


def test_hostile_questions_get_a_clear_answer_not_a_crash(filled: Settings) -> None:
    for question in ["'; DROP TABLE markets; --", "", "x" * 5000, "\x00\x01 ??"]:
        answer = answer_question(filled, question)
        assert answer.status in ("not_found", "invalid", "ambiguous") and answer.text
    assert rows(filled, "SELECT count(*) AS n FROM markets")[0]["n"] == 30


def test_offline_answer_to_the_w_coin_question(filled: Settings) -> None:
    answer = answer_question(filled, "W코인 지금 어때?")
    assert answer.status == "answered" and answer.markets == ["KRW-W"] and answer.offline
    assert "웜홀(KRW-W)" in answer.text and answer.grounded and answer.cost_usd == 0


def test_an_anomaly_interpretation_is_structured_grounded_and_stored_on_the_event(
    filled: Settings, fake: FakeAnthropic
) -> None:
    anomaly_id = insert_anomaly(filled)
    reading = interpret_anomaly(online(filled, fake), anomaly_id)
    assert reading["cause_category"] == "whale_trade" and reading["confidence"] == "medium"
    assert reading["grounded"] and reading["watch_next"]
    [event] = rows(filled, "SELECT interpretation, interpreted_at FROM anomalies WHERE id = %s", (anomaly_id,))
    assert event["interpretation"]["cause_category"] == "whale_trade" and event["interpreted_at"] is not None
    user = fake.message_requests()[0].body["messages"][0]["content"]
    assert "value_ratio=6.5" in user and "KRW-W" in user
    again = interpret_anomaly(online(filled, fake), anomaly_id)
    assert again["result_id"] == reading["result_id"] and len(fake.message_requests()) == 1


def test_offline_interpretation_needs_no_key(filled: Settings) -> None:
    reading = interpret_anomaly(filled, insert_anomaly(filled, kind="price_jump"))
    # a price jump without traded value behind it reads as a thin book
    assert reading["offline"] and reading["cause_category"] == "low_liquidity" and reading["text"]


def test_unknown_anomaly_ids_raise_lookup_error(filled: Settings) -> None:
    with pytest.raises(LookupError):
        interpret_anomaly(filled, 999_999)


def test_costs_report_per_day_and_task_kind(filled: Settings, fake: FakeAnthropic) -> None:
    settings = online(filled, fake)
    produce_summary(settings)
    answer_question(settings, "W코인 지금 어때?")
    answer_question(filled, "비트 어때?")  # offline: counted, free
    conn = psycopg2.connect(filled.database_dsn())
    try:
        report = cost_report(conn, days=1)
    finally:
        conn.close()
    kinds = {r.task_kind: r for r in report.rows}
    assert set(kinds) == {"market_summary", "coin_qa"}
    assert kinds["coin_qa"].calls == 2 and kinds["coin_qa"].offline_calls == 1
    assert report.totals["cost_usd"] > 0 and report.totals["cache_creation_tokens"] > 0
    assert report.models[0]["model"] == "claude-haiku-4-5" and report.models[0]["price_exact"]
    json.dumps(report.as_dict())


@pytest.mark.timescaledb
def test_summary_answer_and_reading_work_in_timescaledb_mode(scratch_db_timescale: Settings) -> None:
    fill_market(scratch_db_timescale)
    summary = produce_summary(scratch_db_timescale)
    assert summary.status == "created" and summary.result["grounded"] and summary.result["context_tokens"] > 0
    assert answer_question(scratch_db_timescale, "W코인 지금 어때?").markets == ["KRW-W"]
    assert interpret_anomaly(scratch_db_timescale, insert_anomaly(scratch_db_timescale))["text"]
