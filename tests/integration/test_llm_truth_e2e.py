"""Every number true, end to end: the real anthropic SDK against the Messages-API stand-in, a simulator-filled
database and a real local Slack receiver. A first answer with a flipped direction is regenerated with the slip
named; an answer still wrong after the regeneration is stored flagged and reaches Slack and the webhook only marked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from alerts.delivery import deliver
from llm.facts import read_context
from llm.interpret import interpret_anomaly
from llm.qa import answer_question
from llm.verify import UNVERIFIED_MARK, verify
from tests.support.analyst_data import clear_llm_state, filled_database, insert_anomaly
from tests.support.fake_anthropic import FakeAnthropic, Scripted, context_of
from tests.support.receivers import running_receiver
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


def online(settings: Settings, fake: FakeAnthropic, **kw: Any) -> Settings:
    values: dict[str, Any] = {
        "anthropic_api_key": SecretStr("sk-ant-test"),
        "anthropic_base_url": fake.url,
        "anthropic_max_retries": 0,
        "anthropic_timeout_seconds": 10,
    }
    values.update(kw)
    return settings.model_copy(update=values)


def flipped(as_json: bool) -> Callable[[dict[str, Any]], str]:
    """A reply that states a real context change with its direction flipped (the model's classic slip)."""

    def respond(body: dict[str, Any]) -> str:
        facts = read_context(context_of(body))
        fact = next(f for f in facts.facts if f.kind == "change" and f.value != 0 and f.entity != "MARKET")
        word = "하락했습니다" if fact.value > 0 else "상승했습니다"
        window = {"5m": "5분 동안", "1m": "1분 동안", "prev_close": "전일 대비"}.get(fact.window or "", "")
        text = f"{fact.entity}는 {window} {abs(fact.value):.2f}% {word}."
        if not as_json:
            return text
        reading = {"cause_category": "whale_trade", "confidence": "low", "watch_next": ["거래대금"], "text": text}
        return json.dumps(reading, ensure_ascii=False)

    return respond


def test_a_flipped_direction_is_regenerated_with_the_slip_named(filled: Settings, fake: FakeAnthropic) -> None:
    fake.enqueue(Scripted.answer(flipped(as_json=False)))  # then the stand-in's grounded default answer
    answer = answer_question(online(filled, fake), "비트코인 지금 어때?")
    first, second = fake.message_requests()
    assert "<CORRECTION>" not in first.body["messages"][0]["content"]
    correction = second.body["messages"][0]["content"]
    assert "<CORRECTION>" in correction and "direction flipped" in correction
    assert answer.grounded and answer.grounding_issues == []
    assert "하락했습니다" not in answer.text and "상승했습니다" not in answer.text


def test_a_still_wrong_interpretation_reaches_slack_and_the_webhook_only_marked(
    filled: Settings, fake: FakeAnthropic
) -> None:
    anomaly_id = insert_anomaly(filled, market="KRW-BTC", kind="pump")
    fake.enqueue(Scripted.answer(flipped(as_json=True)), Scripted.answer(flipped(as_json=True)))
    reading = interpret_anomaly(online(filled, fake), anomaly_id)
    assert len(fake.message_requests()) == 2
    assert reading["grounded"] is False  # stored flagged, with the issue recorded
    context = context_of(fake.message_requests()[0].body)
    assert not verify(reading["text"], context).ok
    with running_receiver() as slack_rx, running_receiver() as hook_rx:
        settings = filled.model_copy(
            update={
                "slack_webhook_url": SecretStr(slack_rx.path_url("/services/T0/B0/X")),
                "alert_webhook_url": hook_rx.url,
                "slack_min_severity": "low",
                "webhook_min_severity": "low",
                "alert_timeout_seconds": 2.0,
            }
        )
        report = deliver(settings, anomaly_id)
        assert report.outcomes == {"slack": "sent", "webhook": "sent"}
        [slack_req] = slack_rx.requests
        [hook_req] = hook_rx.requests
    interpretation_block = slack_req.json["blocks"][2]["text"]["text"]
    # the unverified sentence never arrives without the marker in front of it
    assert interpretation_block.index(UNVERIFIED_MARK) < interpretation_block.index(reading["text"][:20])
    assert hook_req.json["anomaly"]["numbers_verified"] is False
    assert hook_req.json["anomaly"]["interpretation"]["grounded"] is False


def test_a_verified_interpretation_is_delivered_without_the_marker(filled: Settings, fake: FakeAnthropic) -> None:
    anomaly_id = insert_anomaly(filled, market="KRW-ETH", kind="value_spike")
    reading = interpret_anomaly(online(filled, fake), anomaly_id)  # the stand-in copies context lines: grounded
    assert reading["grounded"] is True
    with running_receiver() as slack_rx:
        settings = filled.model_copy(update={"slack_webhook_url": SecretStr(slack_rx.url), "slack_min_severity": "low"})
        assert deliver(settings, anomaly_id).outcomes == {"slack": "sent"}
        [req] = slack_rx.requests
    assert UNVERIFIED_MARK not in json.dumps(req.json, ensure_ascii=False)


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_offline_answers_on_fresh_simulator_data_pass_the_verifier(filled: Settings, lang: str) -> None:
    settings = filled.model_copy(update={"report_language": lang})
    questions = ("비트코인 어때?", "이더리움 어때?", "리플 어때?", "솔라나 어때?", "W코인 지금 어때?", "도지 어때?")
    for question in questions:
        answer = answer_question(settings, question)
        assert answer.status == "answered" and answer.offline
        assert answer.grounded, (question, answer.text, answer.grounding_issues)


def test_contexts_rendered_today_read_back_as_facts_and_verify_against_themselves(filled: Settings) -> None:
    """Guards the verifier against context-format drift: every context kind the models see, from live analytics."""
    from analytics.coin import coin_brief
    from analytics.movers import top_movers
    from analytics.overview import market_overview
    from db.connection import connect
    from llm.interpret import _event_context, _load

    anomaly_id = insert_anomaly(filled, market="KRW-XRP", kind="pump")
    conn = connect(filled)
    try:
        contexts = {
            "overview": market_overview(conn).to_context(),
            "briefs": "\n\n".join(coin_brief(conn, m).to_context() for m in ("KRW-BTC", "KRW-ETH", "KRW-W")),
            "movers 5m": top_movers(conn, window="5m").to_context(),
            "movers 24h": top_movers(conn, window="24h").to_context(),
            "event": _event_context(_load(conn, anomaly_id) or {}) + "\n" + coin_brief(conn, "KRW-XRP").to_context(),
        }
    finally:
        conn.close()
    for name, ctx in contexts.items():
        report = verify(ctx, ctx)
        assert report.ok, (name, report.describe())
    kinds = {(f.entity, f.kind, f.window) for f in read_context(contexts["briefs"]).facts}
    assert {("BTC", "price", None), ("BTC", "change", "prev_close"), ("ETH", "value", "24h")} <= kinds
    overview = read_context(contexts["overview"])
    assert any(f.kind == "count" and f.sub == "up" and f.window == "prev_close" for f in overview.facts)
    assert any(f.kind == "value" and f.window == "1h" and f.coverage_s is not None for f in overview.facts)
    assert "vs prev close" in contexts["movers 24h"].splitlines()[0]
    assert all(f.window == "prev_close" for f in read_context(contexts["movers 24h"]).facts if f.kind == "change")
