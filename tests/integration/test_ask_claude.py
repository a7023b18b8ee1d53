"""`ask` with a key: the real anthropic SDK against the Messages-API stand-in, tool use over the registry's tools —
two tools then an answer; a nonexistent coin; a model that loops (stopped at the round limit); a model that would
exceed the input-token budget (stopped before sending, explained); a 529 then success."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from analytics import tools as registry
from bench.realistic import fill_realistic
from llm.ask import MAX_TOOL_ROUNDS, ask
from tests.conftest import make_scratch_db
from tests.support.fake_anthropic import FakeAnthropic, Scripted, tool_results
from upbit_core.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def market() -> Iterator[Settings]:
    gen = make_scratch_db()
    settings = next(gen)
    try:
        fill_realistic(settings, markets=60, minutes=30)
        yield settings
    finally:
        gen.close()


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def keyed(settings: Settings, fake: FakeAnthropic, **extra: Any) -> Settings:
    return settings.model_copy(
        update={
            "anthropic_api_key": SecretStr("sk-test-ask"),
            "anthropic_base_url": fake.url,
            "anthropic_max_retries": 2,
            "anthropic_timeout_seconds": 20.0,
            **extra,
        }
    )


def first_lines(body: dict[str, Any]) -> str:
    """A grounded final answer: the first line of each tool result, verbatim."""
    return " ".join(r.splitlines()[0] for r in tool_results(body) if r)


def test_a_model_that_calls_two_tools_then_answers_is_grounded_in_the_tool_results(
    market: Settings, fake: FakeAnthropic
) -> None:
    fake.enqueue(
        Scripted.tool_use(("coin_brief", {"coin": "비트코인"})),
        Scripted.tool_use(("top_movers", {"window": "1h", "direction": "gainers", "limit": 5})),
        Scripted.answer(first_lines),
    )
    r = ask(keyed(market, fake), "비트코인이랑 1시간 상승 상위 알려줘")
    assert r.status == "answered" and not r.offline and r.rounds == 2, r
    assert [c["name"] for c in r.tool_calls] == ["coin_brief", "top_movers"]
    assert r.grounded and "KRW-BTC" in r.text
    sent = fake.message_requests()
    assert len(sent) == 3
    for req in sent:
        assert [t["name"] for t in req.body["tools"]] == list(registry.REGISTRY)
        assert req.body["system"][0]["cache_control"] == {"type": "ephemeral"}
    # results go back as tool_result blocks holding the compact text, not JSON
    results = tool_results(sent[2].body)
    assert len(results) == 2 and results[0].startswith("KRW-BTC") and not results[1].startswith("{")
    # measured: every request within the budget, and the usage adds up
    assert 0 < r.max_request_input_tokens <= 4_000 and r.input_tokens > 0 and r.cost_usd > 0


def test_a_nonexistent_coin_comes_back_as_a_tool_error_the_model_can_answer_from(
    market: Settings, fake: FakeAnthropic
) -> None:
    fake.enqueue(
        Scripted.tool_use(("coin_brief", {"coin": "없는코인ZZQ"})),
        Scripted.answer("그런 이름의 업비트 코인은 찾지 못했습니다."),
    )
    r = ask(keyed(market, fake), "없는코인ZZQ 지금 어때?")
    assert r.status == "answered" and r.tool_calls[0]["is_error"] is True
    error_text = tool_results(fake.message_requests()[1].body)[0]
    assert "no market" in error_text.lower() or "closest" in error_text.lower()
    assert "찾지 못했습니다" in r.text


def test_a_looping_model_is_stopped_at_the_round_limit_with_a_clear_answer(
    market: Settings, fake: FakeAnthropic
) -> None:
    fake.enqueue(*[Scripted.tool_use(("market_overview", {})) for _ in range(MAX_TOOL_ROUNDS + 2)])
    r = ask(keyed(market, fake), "시장 분위기 계속 확인해줘")
    assert r.status == "stopped" and r.stop_reason == "round_limit" and r.rounds == MAX_TOOL_ROUNDS
    assert len(fake.message_requests()) == MAX_TOOL_ROUNDS + 1
    assert f"{MAX_TOOL_ROUNDS}라운드" in r.text and "Upbit KRW market" in r.text  # the facts gathered so far


def test_a_model_that_would_exceed_the_input_budget_is_stopped_before_the_request_and_told_why(
    market: Settings, fake: FakeAnthropic
) -> None:
    many = [("candles", {"coin": c, "interval": "1m", "limit": 500}) for c in ("BTC", "ETH", "XRP", "DOGE", "SOL")]
    fake.enqueue(Scripted.tool_use(*many), Scripted.answer("never sent"))
    r = ask(keyed(market, fake), "give me every candle of the majors")
    assert r.status == "stopped" and r.stop_reason == "input_budget"
    assert len(fake.message_requests()) == 1  # the over-budget request was never sent
    assert "input budget of 4,000 tokens" in r.text
    assert r.max_request_input_tokens <= 4_000


def test_an_overloaded_529_is_retried_by_the_sdk_then_the_answer_arrives(market: Settings, fake: FakeAnthropic) -> None:
    fake.enqueue(
        Scripted.error(529, retry_after=0.2),
        Scripted.tool_use(("market_overview", {})),
        Scripted.answer(first_lines),
    )
    r = ask(keyed(market, fake), "what's the market doing?")
    assert r.status == "answered" and r.grounded and r.rounds == 1
    statuses = [q.status for q in fake.message_requests()]
    assert statuses == [529, 200, 200]
