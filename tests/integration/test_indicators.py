"""Indicators from stored candles equal TA-Lib (the reference, tests only) to 1e-9 relative, warm-up included, on
1m and 5m candles built by the real writer and candle layer from 18 hours of simulated Upbit ticker messages; the
open candle changes a result only when it is asked for.

Why TA-Lib: it is the de-facto reference that trading platforms and backtesters compare against, maintained since
2000 (the Python wrapper ships the C library in its wheels, release 0.8.2 in 2026), and its default conventions
are the ones traders' charts use — Wilder RSI seeded with the mean of the first 14 changes, EMA seeded with an SMA,
Bollinger bands from the population standard deviation. `ta`, `finta` and `pandas-ta` seed EMAs/RSI with the first
value (pandas ewm) or use the sample deviation, and are less maintained. Where TA-Lib's own MACD departs from the
charting convention (it seeds the fast EMA at the slow EMA's start), the MACD line is checked against TA-Lib's EMAs,
and a unit test shows the two agree once warmed up.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
import talib

from analytics import indicators as ind
from analytics.candles import MAX_CANDLES, candles
from analytics.freshness import latest_event_time
from analytics.models import Candle
from db.connection import connect
from db.maintenance import refresh_aggregates
from tests.conftest import make_scratch_db
from tests.support.dashboard import Filled, fill_with_simulator
from tests.support.rows import load_messages, query_rows
from upbit_core.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MINUTES = 1100  # 18 h: 499 closed 1m candles and 219 closed 5m candles, enough for SMA/EMA200 on both
REL = 1e-9


@pytest.fixture(scope="module")
def filled() -> Iterator[tuple[Settings, Filled]]:
    gen = make_scratch_db()
    settings = next(gen)
    try:
        fill = fill_with_simulator(settings, markets=2, minutes=MINUTES, rate=0.4, seed=17)
        yield settings, fill
    finally:
        gen.close()


@pytest.fixture
def conn(filled: tuple[Settings, Filled]) -> Iterator[Any]:
    c = connect(filled[0])
    try:
        yield c
    finally:
        c.close()


def _bars(conn: Any, market: str, interval: Any) -> list[Candle]:
    series = candles(conn, market, interval, MAX_CANDLES)
    clock, _ = latest_event_time(conn)
    bars, _, _ = ind.prepare(series, clock=clock)
    return bars[-ind.LOOKBACK :]  # the window every surface reads


def _same(name: str, mine: list[float | None], ref: np.ndarray, scale: float) -> None:
    """Equal to `REL` relative (against the price scale for values that cross zero), None exactly where TA-Lib
    has not warmed up yet."""
    assert len(mine) == len(ref), name
    for i, (m, r) in enumerate(zip(mine, ref, strict=True)):
        if math.isnan(r):
            assert m is None, f"{name}[{i}] = {m} during TA-Lib's warm-up"
            continue
        assert m is not None, f"{name}[{i}] is None, TA-Lib has {r}"
        assert math.isclose(m, float(r), rel_tol=REL, abs_tol=REL * scale), f"{name}[{i}] {m} != {r}"


@pytest.mark.parametrize("interval", ["1m", "5m"])
def test_every_indicator_equals_talib_on_stored_candles_including_warm_up(conn: Any, interval: str) -> None:
    for market in ("KRW-BTC", "KRW-ETH"):
        bars = _bars(conn, market, interval)
        assert len(bars) >= 210, (market, interval, len(bars))  # SMA/EMA200 warm up inside the series
        closes = np.array([b.close for b in bars], dtype=float)
        volumes = np.array([b.volume or 0.0 for b in bars], dtype=float)
        c = [float(x) for x in closes]
        scale = float(np.mean(closes))
        _same("rsi14", ind.rsi(c), talib.RSI(closes, 14), 100.0)
        for n in (20, 50, 200):
            _same(f"sma{n}", ind.sma(c, n), talib.SMA(closes, n), scale)
            _same(f"ema{n}", ind.ema(c, n), talib.EMA(closes, n), scale)
        line, signal, hist = ind.macd(c)
        ref_line = talib.EMA(closes, 12) - talib.EMA(closes, 26)
        ref_signal = np.full(len(closes), np.nan)
        ref_signal[25:] = talib.EMA(ref_line[25:], 9)
        _same("macd", line, ref_line, scale)
        _same("macd_signal", signal, ref_signal, scale)
        _same("macd_hist", hist, ref_line - ref_signal, scale)
        upper, mid, lower = talib.BBANDS(closes, 20, 2.0, 2.0, 0)
        m, u, lo = ind.bollinger(c)
        _same("bb_mid", m, mid, scale)
        _same("bb_upper", u, upper, scale)
        _same("bb_lower", lo, lower, scale)
        _same("volume_avg20", ind.sma([float(v) for v in volumes], 20), talib.SMA(volumes, 20), float(volumes.max()))

        # The result the coin brief / MCP tool / Q&A read: the last value of each reference series.
        got = ind.indicators(conn, market, interval, use_cache=False)  # type: ignore[arg-type]
        for _ in range(2):  # computed then cached: the same result until a candle closes
            again = ind.indicators(conn, market, interval)  # type: ignore[arg-type]
            assert again.model_dump(exclude={"freshness"}) == got.model_dump(exclude={"freshness"})
        assert got.candles == len(bars) and got.last_t == bars[-1].t and not got.open_included
        assert got.as_of == bars[-1].t + ind.STEP[interval] and got.na == {}
        assert got.rsi14 is not None and math.isclose(got.rsi14, talib.RSI(closes, 14)[-1], rel_tol=REL)
        assert got.ema200 is not None and math.isclose(got.ema200, talib.EMA(closes, 200)[-1], rel_tol=REL)
        assert got.bb_upper is not None and math.isclose(got.bb_upper, upper[-1], rel_tol=REL)
        want_b = (closes[-1] - lower[-1]) / (upper[-1] - lower[-1])
        assert got.bb_percent_b is not None and math.isclose(got.bb_percent_b, want_b, rel_tol=REL)
        want_bw = (upper[-1] - lower[-1]) / mid[-1] * 100
        assert got.bb_bandwidth_pct is not None and math.isclose(got.bb_bandwidth_pct, want_bw, rel_tol=REL)
        assert got.volume_ratio is not None
        assert math.isclose(got.volume_ratio, volumes[-1] / talib.SMA(volumes, 20)[-1], rel_tol=REL)


def test_hourly_indicators_without_enough_candles_are_na_with_the_reason(conn: Any) -> None:
    got = ind.indicators(conn, "KRW-BTC", "1h")
    assert got.candles < 26  # 18 hours of data
    assert got.macd is None and got.sma50 is None and got.ema200 is None and got.macd_signal is None
    assert got.na["ema200"] == f"needs 200 1h candles, have {got.candles}"
    assert got.na["macd"] == f"needs 26 1h candles, have {got.candles}"
    assert got.rsi14 is not None  # 15 candles are enough for RSI14
    text = got.to_context()
    assert "EMA200(1h) n/a" in text and f"n/a ({got.candles} 1h candles; warm-up needs macd 26" in text


def test_the_open_candle_changes_the_last_value_only_when_it_is_asked_for(filled: tuple[Settings, Filled]) -> None:
    settings, _ = filled
    conn = connect(settings)
    try:
        before_closed = ind.indicators(conn, "KRW-BTC", "1m", use_cache=False)
        before_open = ind.indicators(conn, "KRW-BTC", "1m", include_open=True)
        assert before_open.open_included and before_open.last_t == before_closed.last_t + timedelta(minutes=1)
        conn.commit()
    finally:
        conn.close()
    # A real-format fill one second later inside the open minute, 3 % above the last price.
    (last,) = query_rows(
        settings, "SELECT time, trade_price FROM ticker_data WHERE code = 'KRW-BTC' ORDER BY time DESC LIMIT 1"
    )
    t = last[0] + timedelta(milliseconds=1)
    open_minute = before_open.last_t
    assert open_minute is not None and open_minute <= t < open_minute + timedelta(minutes=1)
    msg = _ticker("KRW-BTC", t, float(last[1]) * 1.03)
    assert load_messages(settings, [msg]) == 1
    conn = connect(settings)
    try:
        refresh_aggregates(conn)
        conn.commit()
        after_closed = ind.indicators(conn, "KRW-BTC", "1m", use_cache=False)
        after_open = ind.indicators(conn, "KRW-BTC", "1m", include_open=True)
    finally:
        conn.close()
    assert after_closed.model_dump(exclude={"freshness"}) == before_closed.model_dump(exclude={"freshness"})
    assert after_open.last_t == before_open.last_t and after_open.close != before_open.close
    assert after_open.rsi14 != before_open.rsi14 and after_open.bb_percent_b != before_open.bb_percent_b
    assert after_open.as_of == t


def _ticker(code: str, t: Any, price: float) -> dict[str, Any]:
    ms = int(t.timestamp() * 1000)
    price = round(price)
    return {
        "type": "ticker",
        "code": code,
        "opening_price": price,
        "high_price": price,
        "low_price": price,
        "trade_price": price,
        "prev_closing_price": price,
        "change": "EVEN",
        "change_price": 0.0,
        "signed_change_price": 0.0,
        "change_rate": 0.0,
        "signed_change_rate": 0.0,
        "trade_volume": 0.01,
        "acc_trade_volume": 1000.0,
        "acc_trade_volume_24h": 1000.0,
        "acc_trade_price": 1e11,
        "acc_trade_price_24h": 1e11,
        "trade_date": t.strftime("%Y%m%d"),
        "trade_time": t.strftime("%H%M%S"),
        "trade_timestamp": ms,
        "ask_bid": "BID",
        "acc_ask_volume": 500.0,
        "acc_bid_volume": 500.0,
        "highest_52_week_price": price * 2,
        "highest_52_week_date": "2026-01-01",
        "lowest_52_week_price": price / 2,
        "lowest_52_week_date": "2026-02-01",
        "market_state": "ACTIVE",
        "is_trading_suspended": False,
        "delisting_date": None,
        "market_warning": "NONE",
        "timestamp": ms,
        "stream_type": "REALTIME",
    }
