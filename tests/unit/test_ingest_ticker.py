"""Ticker message rules: field list, SIMPLE↔DEFAULT mapping, validation reasons, message identity, COPY lines."""

from __future__ import annotations

import csv
import math
from typing import Any

import pytest

from fake_upbit.simulator import MarketSimulator
from ingest.ticker import (
    COLUMNS,
    FIELDS,
    SIMPLE_KEYS,
    InvalidMessage,
    canonical_bytes,
    message_id,
    to_default,
    to_simple,
    validate,
    validation_errors,
)
from ingest.writer import COPY_OPTIONS, canonical_row, copy_line, latest_rows, prepare

START_MS = 1_767_243_600_000


@pytest.fixture(scope="module")
def message() -> dict[str, Any]:
    return next(MarketSimulator(markets=10, seed=1, start_ms=START_MS).messages(5))


def test_the_stream_has_33_fields_with_unique_simple_keys() -> None:
    assert len(FIELDS) == 33
    assert len(set(SIMPLE_KEYS.values())) == 33
    assert SIMPLE_KEYS["acc_trade_price_24h"] == "atp24h"
    assert SIMPLE_KEYS["trade_timestamp"] == "ttms"


def test_simple_and_default_formats_convert_both_ways(message: dict[str, Any]) -> None:
    simple = to_simple(message)
    assert simple["cd"] == message["code"] and "code" not in simple
    assert to_default(simple) == message
    assert validate(simple) == message


def test_a_valid_message_has_no_reasons(message: dict[str, Any]) -> None:
    assert validation_errors(message) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"trade_price": "100"}, "trade_price is not a number"),
        ({"trade_price": 0}, "trade_price is zero"),
        ({"trade_price": None}, "trade_price is missing"),
        ({"trade_volume": -1.0}, "trade_volume is negative"),
        ({"acc_trade_volume": math.inf}, "acc_trade_volume is not a finite number"),
        ({"acc_trade_price": math.nan}, "acc_trade_price is not a finite number"),
        ({"trade_timestamp": 1_700_000_000}, "is not a plausible epoch time"),
        ({"trade_timestamp": 1.7e12}, "trade_timestamp is not an integer"),
        ({"highest_52_week_date": "2025-02-30"}, "highest_52_week_date is not a date"),
        ({"code": "krw-btc'; DROP TABLE ticker_data;--"}, "is not a market code"),
        ({"type": "trade"}, "expected 'ticker'"),
        ({"is_trading_suspended": "no"}, "is_trading_suspended is not a boolean"),
        ({"market_state": "A\x00"}, "market_state holds a NUL character"),
    ],
)
def test_impossible_values_are_refused_with_a_reason(
    message: dict[str, Any], change: dict[str, Any], reason: str
) -> None:
    reasons = validation_errors({**message, **change})
    assert any(reason in r for r in reasons), reasons
    with pytest.raises(InvalidMessage):
        validate({**message, **change})


def test_non_objects_and_upbit_error_frames_are_not_data() -> None:
    assert validation_errors([1, 2]) == ["not a JSON object (got list)"]
    assert validation_errors({"error": {"name": "NO_TICKET", "message": "x"}}) == ["Upbit error frame, not data"]


def test_unknown_enum_values_and_unknown_keys_pass(message: dict[str, Any]) -> None:
    odd = {**message, "market_state": "HALTED_FOR_AUDIT", "change": "SIDEWAYS", "brand_new_field": {"x": 1}}
    assert validation_errors(odd) == []
    assert b"brand_new_field" in copy_line(odd, canonical_bytes(odd), None)


def test_huge_volumes_and_tiny_prices_are_valid(message: dict[str, Any]) -> None:
    assert validation_errors({**message, "acc_trade_volume": 4.2e12, "trade_price": 0.00000001}) == []


def test_message_id_is_stable_and_distinguishes_fills_in_one_millisecond(message: dict[str, Any]) -> None:
    same = dict(reversed(list(message.items())))
    assert message_id(same) == message_id(message)
    other_fill = {**message, "trade_volume": message["trade_volume"] + 1e-8}
    assert message_id(other_fill) != message_id(message)


def _csv_fields(line: bytes) -> list[str]:
    assert line.endswith(b"\n")
    return next(csv.reader([line.decode().rstrip("\n")]))


def test_copy_line_is_csv_with_unquoted_null_and_quoted_text(message: dict[str, Any]) -> None:
    assert COPY_OPTIONS == "(FORMAT csv, NULL 'null')"
    plain = copy_line({**message, "delisting_date": None}, canonical_bytes(message), 123)
    fields = _csv_fields(plain)
    assert len(fields) == len(COLUMNS)
    assert b",null," in plain  # delisting_date → NULL (unquoted)
    assert fields[COLUMNS.index("code")] == message["code"]
    assert float(fields[COLUMNS.index("trade_price")]) == message["trade_price"]
    tricky = {**message, "market_state": "null", "market_warning": 'tab\there\\ "quoted", comma'}
    line = copy_line(tricky, canonical_bytes(tricky), None)
    fields = _csv_fields(line)
    assert b'"null"' in line  # the text "null" is quoted, so it is not NULL
    assert fields[COLUMNS.index("market_warning")] == 'tab\there\\ "quoted", comma'
    assert fields[-1] == "null"  # extra → NULL


def test_canonical_row_equals_the_general_path_and_declines_what_it_cannot_prove(message: dict[str, Any]) -> None:
    line = canonical_bytes(message)
    fast = canonical_row(line, 123, "t/0/1")
    assert fast is not None and fast.line == copy_line(message, line, 123) == prepare(message, 123).line
    assert (fast.code, fast.order, fast.source, fast.raw) == (
        message["code"],
        (message["trade_timestamp"], message["timestamp"]),
        "t/0/1",
        line,
    )
    for odd in (
        {**message, "trade_volume": -1.0},  # invalid
        {**message, "market_warning": 'say "hi"'},  # needs CSV quoting
        {**message, "brand_new_field": 1},  # extra
    ):
        assert canonical_row(canonical_bytes(odd), None) is None
    assert canonical_row(b"not json", None) is None and canonical_row(b"[1]", None) is None


def test_latest_row_per_market_is_the_newest_by_event_time(message: dict[str, Any]) -> None:
    older = prepare({**message, "trade_timestamp": START_MS, "timestamp": START_MS + 5})
    newer = prepare({**message, "trade_timestamp": START_MS + 1, "timestamp": START_MS + 2})
    assert latest_rows([newer, older]) == [newer]
