"""Pricing maths, the cacheable system prompts, client construction and error classes."""

from __future__ import annotations

from decimal import Decimal

import anthropic
import httpx
import pytest

from llm import claude, prompts
from llm.claude import Usage
from llm.pricing import OFFLINE_MODEL, cost_usd, price_for
from upbit_core.settings import DEFAULT_ANTHROPIC_MODEL, Settings


def _settings(**kw: object) -> Settings:
    return Settings(_env_file=None, environment="test", **kw)  # type: ignore[call-arg]


def test_haiku_cost_counts_input_output_and_both_cache_kinds() -> None:
    usage = Usage(
        input_tokens=1_000_000, output_tokens=200_000, cache_creation_tokens=100_000, cache_read_tokens=500_000
    )
    # $1 input + $1 output (0.2M × $5) + 0.1M × $1.25 + 0.5M × $0.10
    assert cost_usd("claude-haiku-4-5", usage) == Decimal("2.175000")


def test_dated_model_names_use_their_alias_price_and_unknown_ones_their_family() -> None:
    assert price_for("claude-haiku-4-5-20251001") == (price_for("claude-haiku-4-5")[0], True)
    price, exact = price_for("claude-haiku-9-9")
    assert not exact and price.input == Decimal(1)
    assert price_for(OFFLINE_MODEL)[0].input == 0
    assert cost_usd("something-else", Usage(input_tokens=10)) == 0


def test_the_default_model_is_named_by_the_installed_sdk() -> None:
    from typing import get_args

    from anthropic.types.model_param import ModelParam

    names = get_args(get_args(ModelParam)[0])
    assert DEFAULT_ANTHROPIC_MODEL in names
    assert price_for(DEFAULT_ANTHROPIC_MODEL)[1]


@pytest.mark.parametrize("task", ["market_summary", "coin_qa", "anomaly_interpretation"])
@pytest.mark.parametrize("language", ["ko", "en"])
def test_system_prompt_is_one_static_block_marked_for_prompt_caching(task: str, language: str) -> None:
    blocks = prompts.system_blocks(task, language)  # type: ignore[arg-type]
    assert blocks == prompts.system_blocks(task, language)  # type: ignore[arg-type]
    assert len(blocks) == 1 and blocks[0]["cache_control"] == {"type": "ephemeral"}
    assert "CONTEXT" in blocks[0]["text"]
    if language == "ko":
        assert "한국어" in blocks[0]["text"]


def test_the_user_message_carries_context_question_and_a_named_correction() -> None:
    text = prompts.user_message("BTC +1.25%", question="비트 어때?", correction='"+9.99%"')
    assert "<CONTEXT>\nBTC +1.25%\n</CONTEXT>" in text and "<QUESTION>" in text and '"+9.99%"' in text


def test_client_uses_settings_timeout_retries_and_base_url_only_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    default = claude.build_client(_settings(anthropic_api_key="sk-test", anthropic_max_retries=5))
    assert str(default.base_url).startswith("https://api.anthropic.com")
    assert default.max_retries == 5
    assert isinstance(default.timeout, httpx.Timeout | anthropic.Timeout)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/")
    from_env = claude.build_client(_settings(anthropic_api_key="sk-test"))
    assert str(from_env.base_url).startswith("http://127.0.0.1:9")
    explicit = claude.build_client(_settings(anthropic_api_key="sk-test", anthropic_base_url="http://127.0.0.1:7"))
    assert str(explicit.base_url).startswith("http://127.0.0.1:7")


def test_building_a_client_without_a_key_is_refused() -> None:
    with pytest.raises(claude.LLMError, match="ANTHROPIC_API_KEY"):
        claude.build_client(_settings(anthropic_api_key=""))


def _status_error(status: int) -> anthropic.APIStatusError:
    request = httpx.Request("POST", "http://x/v1/messages")
    response = httpx.Response(status, request=request)
    cls = {
        400: anthropic.BadRequestError,
        401: anthropic.AuthenticationError,
        403: anthropic.PermissionDeniedError,
        429: anthropic.RateLimitError,
        529: anthropic.InternalServerError,
        500: anthropic.InternalServerError,
    }
    return cls[status]("x", response=response, body=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "transient"), [(400, False), (401, False), (403, False), (429, True), (500, True), (529, True)]
)
def test_only_rate_limits_overload_and_server_errors_are_transient(status: int, transient: bool) -> None:
    assert claude.is_transient(_status_error(status)) is transient
