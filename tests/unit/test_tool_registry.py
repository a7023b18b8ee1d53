"""The one tool registry: lean definitions a model sees, argument validation, and long series cut to the budget with
a note saying how to page."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from analytics import tools as registry
from analytics.models import Candle, CandleSeries, Freshness
from analytics.tokens import count_tokens


def test_model_visible_definitions_of_every_tool_stay_within_1500_tokens_and_carry_no_titles() -> None:
    text = registry.model_visible_definitions()
    assert count_tokens(text) <= 1_500
    assert '"title"' not in text and "anyOf" not in text
    for tool in registry.claude_tools():
        assert set(tool) == {"name", "description", "input_schema"}
        assert tool["input_schema"]["type"] == "object"


def test_arguments_are_validated_with_messages_a_model_can_act_on() -> None:
    candles = registry.get("candles")
    assert candles.validate({"coin": "BTC"})["limit"] == 60
    with pytest.raises(registry.ToolInputError, match="limit"):
        candles.validate({"coin": "BTC", "limit": 100_000})
    with pytest.raises(registry.ToolInputError, match="coin"):
        candles.validate({})
    with pytest.raises(registry.ToolInputError, match="no tool named"):
        registry.get("drop_tables")


def _series(n: int) -> CandleSeries:
    start = datetime(2026, 11, 24, tzinfo=UTC)
    candles = [
        Candle(
            t=start + timedelta(minutes=i),
            open=1e8 + i,
            high=1e8 + i + 5,
            low=1e8 + i - 5,
            close=1e8 + i,
            volume=1.5,
            value_fills_krw=1.5e8,
            fills=3,
        )
        for i in range(n)
    ]
    fresh = Freshness(as_of=start + timedelta(minutes=n), lag_seconds=1.0, stale=False)
    return CandleSeries(market="KRW-BTC", interval="1m", candles=candles, freshness=fresh)


def test_a_long_series_is_cut_to_the_budget_keeping_the_newest_and_says_how_to_get_the_rest() -> None:
    text, cut = registry.candles_text(_series(500))
    assert cut and count_tokens(text) <= registry.TEXT_BUDGET
    last = text.splitlines()[-1]
    assert last.startswith("truncated: newest ") and "before=2026-11-24T" in last
    assert "11-24 08:19" in text  # the newest candle (minute 499) is kept
    short, cut_short = registry.candles_text(_series(10))
    assert not cut_short and "truncated" not in short and len(short.splitlines()) == 11


def test_structured_output_carries_the_data_and_the_envelope_not_the_text() -> None:
    out = registry.ToolOutput("compact text", {"items": [1, 2]}, Freshness(as_of=None, lag_seconds=None, stale=True))
    data = out.structured("movers")
    assert data == {
        "as_of": None,
        "stale": True,
        "truncated": False,
        "text_tokens": count_tokens("compact text"),
        "movers": {"items": [1, 2]},
    }
    assert "compact text" not in json.dumps(data)
