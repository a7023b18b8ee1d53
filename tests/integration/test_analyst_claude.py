"""The real anthropic SDK against the local Messages API stand-in: request shape, retries, errors, usage."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llm import claude, prompts
from tests.support.fake_anthropic import FakeAnthropic, Scripted
from upbit_core.settings import Settings


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def _client(fake: FakeAnthropic, **kw: object) -> object:
    values: dict[str, object] = {
        "anthropic_api_key": "sk-ant-test",
        "anthropic_base_url": fake.url,
        "anthropic_max_retries": 3,
        "anthropic_timeout_seconds": 5,
    }
    values.update(kw)
    return claude.build_client(Settings(_env_file=None, environment="test", **values))  # type: ignore[call-arg]


def _call(client: object) -> claude.Reply:
    return claude.call(
        client,  # type: ignore[arg-type]
        model="claude-haiku-4-5",
        system=prompts.system_blocks("market_summary", "ko"),
        user_text=prompts.user_message("BTC 143250000 +1.25%"),
        max_tokens=321,
    )


def test_request_carries_model_cached_system_messages_and_max_tokens(fake: FakeAnthropic) -> None:
    reply = _call(_client(fake))
    [req] = fake.message_requests()
    body = req.body
    assert body["model"] == "claude-haiku-4-5" and body["max_tokens"] == 321
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["messages"] == [{"role": "user", "content": prompts.user_message("BTC 143250000 +1.25%")}]
    credential = req.headers.get("x-api-key") or req.headers.get("authorization", "").removeprefix("Bearer ")
    assert credential == "sk-ant-test" and "anthropic-version" in req.headers
    assert reply.text == "BTC 143250000 +1.25%"
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert reply.usage.cache_creation_tokens > 0 and reply.usage.cache_read_tokens == 0
    second = _call(_client(fake))
    assert second.usage.cache_read_tokens == reply.usage.cache_creation_tokens  # the static prefix was cached


def test_429_and_529_are_retried_by_the_sdk_honouring_retry_after(fake: FakeAnthropic) -> None:
    fake.enqueue(Scripted.error(429, retry_after=1), Scripted.error(529, retry_after=1))
    reply = _call(_client(fake))
    reqs = fake.message_requests()
    assert [r.status for r in reqs] == [429, 529, 200]
    assert reqs[1].at - reqs[0].at >= 0.95 and reqs[2].at - reqs[1].at >= 0.95
    assert [r.headers.get("x-stainless-retry-count") for r in reqs] == ["0", "1", "2"]
    assert reply.text


@pytest.mark.parametrize("status", [400, 401, 403])
def test_client_errors_are_not_retried_and_say_what_to_fix(fake: FakeAnthropic, status: int) -> None:
    fake.enqueue(Scripted.error(status))
    with pytest.raises(claude.LLMError) as err:
        _call(_client(fake))
    assert not err.value.transient and err.value.status == status
    assert "—" in str(err.value)
    assert len(fake.message_requests()) == 1


def test_rate_limits_that_outlast_the_sdk_retries_become_a_transient_error(fake: FakeAnthropic) -> None:
    fake.enqueue(*[Scripted.error(429, retry_after=0.1)] * 2)
    with pytest.raises(claude.LLMError) as err:
        _call(_client(fake, anthropic_max_retries=1))
    assert err.value.transient and err.value.status == 429
    assert len(fake.message_requests()) == 2


def test_a_slow_api_times_out_and_is_retried_then_reported_as_transient(fake: FakeAnthropic) -> None:
    fake.enqueue(Scripted.slow(3), Scripted.slow(3))
    with pytest.raises(claude.LLMError) as err:
        _call(_client(fake, anthropic_timeout_seconds=1, anthropic_max_retries=1))
    assert err.value.transient and "APITimeoutError" in str(err.value)
    assert len(fake.message_requests()) == 2
