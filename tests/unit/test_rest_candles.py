"""Pure logic of the REST candle path: candle validation, --since parsing, the server's candle book, synthetic
history and rate-limit bookkeeping (no sockets, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fake_upbit.candles import CandleBook, CandleService, HistorySpec, RestLimits, SyntheticHistory, parse_to
from fake_upbit.simulator import round_price
from ingest.rest_candles import parse_candle, parse_since

GOOD = {
    "market": "KRW-BTC",
    "candle_date_time_utc": "2026-11-29T10:01:00",
    "candle_date_time_kst": "2026-11-29T19:01:00",
    "opening_price": 100.0,
    "high_price": 110.0,
    "low_price": 90.0,
    "trade_price": 105.0,
    "timestamp": 1_795_000_000_000,
    "candle_acc_trade_price": 1050.0,
    "candle_acc_trade_volume": 10.0,
    "unit": 1,
}


def test_a_well_formed_candle_becomes_a_utc_minute() -> None:
    candle = parse_candle(GOOD)
    assert candle is not None
    assert candle.bucket == datetime(2026, 11, 29, 10, 1, tzinfo=UTC)
    assert (candle.open, candle.high, candle.low, candle.close, candle.volume, candle.value) == (
        100.0,
        110.0,
        90.0,
        105.0,
        10.0,
        1050.0,
    )


@pytest.mark.parametrize(
    "change",
    [
        {"market": "krw-btc'; DROP TABLE x;--"},
        {"candle_date_time_utc": "yesterday"},
        {"candle_date_time_utc": "2026-11-29T10:01:30"},  # not a minute boundary
        {"trade_price": "abc"},
        {"trade_price": -1.0},
        {"high_price": 80.0},  # high below open/close
        {"low_price": 120.0},
        {"candle_acc_trade_volume": -5.0},
        {"opening_price": float("inf")},
        {"trade_price": None},
    ],
)
def test_a_malformed_candle_is_rejected_not_stored(change: dict[str, object]) -> None:
    assert parse_candle({**GOOD, **change}) is None
    assert parse_candle([GOOD]) is None


def test_since_accepts_durations_and_iso_times_and_says_how_when_not() -> None:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert parse_since("24h", now) == now - timedelta(hours=24)
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    assert parse_since("2d", now) == now - timedelta(days=2)
    assert parse_since("2026-11-28T00:00:00Z", now) == datetime(2026, 11, 28, tzinfo=UTC)
    with pytest.raises(ValueError, match="24h, 90m, 2d"):
        parse_since("yesterday", now)


def test_the_candle_book_keeps_open_high_low_close_volume_and_value_per_minute() -> None:
    book = CandleBook()
    t0 = 1_795_000_020_000 - 1_795_000_020_000 % 60_000
    for ts, price, volume in (
        (t0 + 1, 100.0, 1.0),
        (t0 + 5, 120.0, 2.0),
        (t0 + 3, 80.0, 1.0),
        (t0 + 61_000, 90.0, 1.0),
    ):
        book.add({"code": "KRW-BTC", "trade_timestamp": ts, "trade_price": price, "trade_volume": volume})
    book.add({"code": "KRW-BTC", "trade_timestamp": "bad", "trade_price": 1.0, "trade_volume": 1.0})
    minutes = book.minutes("KRW-BTC")
    assert minutes[t0] == [100.0, 120.0, 80.0, 120.0, 4.0, 100.0 + 240.0 + 80.0, t0 + 5]
    assert minutes[t0 + 60_000][:4] == [90.0, 90.0, 90.0, 90.0]


def test_synthetic_history_is_deterministic_and_ends_at_the_feeds_first_price() -> None:
    spec = HistorySpec("KRW-XRP", 3_000.0, 5e9, 1.0, round_price)
    end = 1_795_000_000_000
    one = SyntheticHistory([spec], end_ms=end, hours=2, seed=3).minutes("KRW-XRP")
    two = SyntheticHistory([spec], end_ms=end, hours=2, seed=3).minutes("KRW-XRP")
    assert one == two and len(one) == 120
    last = max(one)
    assert one[last][3] == 3_000.0  # the last minute closes at the live feed's first price: no jump
    assert all(c[2] <= min(c[0], c[3]) and c[1] >= max(c[0], c[3]) for c in one.values())
    assert SyntheticHistory([spec], end_ms=end, hours=2, seed=4).minutes("KRW-XRP") != one


def test_the_server_rejects_over_the_rate_and_blocks_a_client_that_ignores_429s() -> None:
    now = {"t": 100.0}
    service = CandleService(CandleBook(), limits=RestLimits(per_second=3, ban_after_429s=2, ban_seconds=2.0))
    service.clock = lambda: now["t"]
    statuses = [service.admit()[0] for _ in range(7)]
    assert statuses == [200, 200, 200, 429, 429, 418, 418]
    _, _, headers = service.admit()
    assert headers["Retry-After"] == "2"
    now["t"] = 103.0  # block over, a new second
    status, _, headers = service.admit()
    assert status == 200 and headers["Remaining-Req"] == "group=candles; min=1800; sec=2"


def test_a_429_storm_rejects_exactly_the_requests_it_was_given() -> None:
    service = CandleService(CandleBook(), limits=RestLimits(per_second=100, storm_requests=3, ban_after_429s=10))
    service.clock = lambda: 5.0
    assert [service.admit()[0] for _ in range(5)] == [429, 429, 429, 200, 200]


def test_to_accepts_upbit_time_forms() -> None:
    utc = parse_to("2026-11-29T10:00:00", 0)
    assert parse_to("2026-11-29T10:00:00Z", 0) == utc
    assert parse_to("2026-11-29 19:00:00+09:00", 0) == utc
    assert parse_to(None, 42) == 42
