"""The MCP candles tool's compact rows carry exactly the analytics layer's numbers (no rounding, no reordering)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.models import Candle, CandleSeries, Freshness
from analytics.tools import CANDLE_COLUMNS, MAX_RESULT_BYTES, CompactCandles, ToolOutput, cap_list

START = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
prices = st.floats(min_value=1e-8, max_value=1e15, allow_nan=False, allow_infinity=False)
maybe = st.one_of(st.none(), prices)


def _parse(row: str) -> tuple[datetime, list[float | None], int]:
    fields = row.split(",")
    assert len(fields) == len(CANDLE_COLUMNS)
    t = datetime.strptime(fields[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return t, [float(f) if f else None for f in fields[1:7]], int(fields[7])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(maybe, prices, prices, maybe, maybe, maybe, st.integers(0, 10**9)), max_size=40))
def test_compact_rows_read_back_to_the_same_candles(values: list[tuple]) -> None:  # type: ignore[type-arg]
    candles = [
        Candle(t=START + timedelta(hours=i), open=o, high=h, low=lo, close=c, volume=v, value_fills_krw=val, fills=n)
        for i, (o, h, lo, c, v, val, n) in enumerate(values)
    ]
    series = CandleSeries(
        market="KRW-BTC", interval="1h", candles=candles, freshness=Freshness(as_of=START, lag_seconds=1.0, stale=False)
    )
    compact = CompactCandles.of(series)
    assert compact.columns == CANDLE_COLUMNS and compact.freshness == series.freshness
    assert len(compact.rows) == len(candles)
    for row, candle in zip(compact.rows, candles, strict=True):
        t, numbers, fills = _parse(row)
        assert t == candle.t and fills == candle.fills
        expected = [candle.open, candle.high, candle.low, candle.close, candle.volume, candle.value_fills_krw]
        assert numbers == expected  # exact float equality: repr round-trips


def test_the_byte_cap_drops_the_oldest_rows_and_says_so() -> None:
    big = 9.876543210123457e14
    candles = [
        Candle(
            t=START + timedelta(minutes=i),
            open=big,
            high=big,
            low=big,
            close=big,
            volume=big,
            value_fills_krw=big,
            fills=i,
        )
        for i in range(500)
    ]
    series = CandleSeries(
        market="KRW-BTC", interval="1m", candles=candles, freshness=Freshness(as_of=START, lag_seconds=0.0, stale=False)
    )
    compact = CompactCandles.of(series)
    result = ToolOutput("x", compact.model_dump(mode="json"), series.freshness)
    rows = result.data["rows"]
    cap_list(result, rows, keep_tail=True)
    assert result.truncated and 0 < len(rows) < 500
    assert len(json.dumps(result.structured("candles")).encode()) <= MAX_RESULT_BYTES + 200
    assert _parse(rows[-1])[2] == 499  # the newest candle is kept
