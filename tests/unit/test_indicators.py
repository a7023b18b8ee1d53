"""The indicator math and its guards, without a database: TA-Lib equality on daily and hourly candles built from
simulated real-format ticks, the open candle, gap filling, n/a reasons, the conventions that differ from TA-Lib."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import talib

from analytics import indicators as ind
from analytics.context import INDICATORS_BUDGET
from analytics.models import Candle, CandleSeries, Freshness
from analytics.tokens import count_tokens
from fake_upbit.simulator import round_price

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _walk(n: int, seed: int, start: float = 95_000_000.0) -> list[float]:
    """Closes on Upbit's tick grid (the simulator's round_price), a random walk like a real coin's."""
    rng = random.Random(seed)
    price, out = start, []
    for _ in range(n):
        price = round_price(price * math.exp(rng.gauss(0, 0.01)))
        out.append(price)
    return out


def _bars(closes: list[float], step: timedelta, volume_seed: int = 1) -> list[Candle]:
    rng = random.Random(volume_seed)
    return [
        Candle(
            t=T0 + i * step, open=c, high=c, low=c, close=c, volume=rng.uniform(0.1, 9.0), value_fills_krw=c, fills=1
        )
        for i, c in enumerate(closes)
    ]


def _close(a: float | None, b: float, scale: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * scale)


@pytest.mark.parametrize(("interval", "step"), [("1d", timedelta(days=1)), ("1h", timedelta(hours=1))])
def test_last_values_equal_talib_for_daily_and_hourly_candles(interval: str, step: timedelta) -> None:
    closes = _walk(480, seed=len(interval))
    got = ind.compute("KRW-BTC", interval, _bars(closes, step))  # type: ignore[arg-type]
    a = np.array(closes)
    vols = np.array([b.volume for b in _bars(closes, step)], dtype=float)
    upper, mid, lower = talib.BBANDS(a, 20, 2.0, 2.0, 0)
    line = talib.EMA(a, 12) - talib.EMA(a, 26)
    signal = talib.EMA(line[25:], 9)
    scale = float(a.mean())
    assert got.na == {} and got.candles == 480 and got.interval == interval
    assert _close(got.rsi14, talib.RSI(a, 14)[-1], 100)
    assert _close(got.macd, line[-1], scale) and _close(got.macd_signal, signal[-1], scale)
    assert _close(got.macd_hist, line[-1] - signal[-1], scale)
    assert _close(got.bb_upper, upper[-1], scale) and _close(got.bb_lower, lower[-1], scale)
    assert _close(got.bb_mid, mid[-1], scale)
    for n in (20, 50, 200):
        assert _close(getattr(got, f"sma{n}"), talib.SMA(a, n)[-1], scale)
        assert _close(getattr(got, f"ema{n}"), talib.EMA(a, n)[-1], scale)
    assert _close(got.volume_ratio, vols[-1] / talib.SMA(vols, 20)[-1], 1)
    assert got.as_of == T0 + 480 * step and got.last_t == T0 + 479 * step


def test_talibs_own_macd_seeds_the_fast_ema_late_and_agrees_once_warmed_up() -> None:
    # TA-Lib's MACD seeds EMA12 at the slow EMA's start (index 25), charting tools at index 11: the first values
    # differ, and after ~200 candles the seed has decayed below 1e-9. We follow the charts.
    closes = _walk(480, seed=7)
    a = np.array(closes)
    mine, _, _ = ind.macd(closes)
    talib_line, _, _ = talib.MACD(a, 12, 26, 9)
    assert not math.isclose(mine[33] or 0.0, talib_line[33], rel_tol=1e-6)
    assert math.isclose(mine[-1] or 0.0, talib_line[-1], rel_tol=1e-9, abs_tol=1e-9 * float(a.mean()))


def test_a_flat_window_has_rsi_50_where_talib_says_0() -> None:
    flat = [100.0] * 30
    assert ind.rsi(flat)[-1] == 50.0
    assert talib.RSI(np.array(flat), 14)[-1] == 0.0  # the deliberate difference (documented in the module)
    assert ind.rsi([100.0 + i for i in range(30)])[-1] == 100.0
    assert ind.rsi([100.0 - i for i in range(30)])[-1] == 0.0


def test_bollinger_uses_the_population_standard_deviation() -> None:
    closes = [float(x) for x in range(1, 21)]
    mid, upper, _ = ind.bollinger(closes)
    population_sd = float(np.std(closes))  # ddof=0
    assert mid[-1] == 10.5 and upper[-1] is not None
    assert math.isclose(upper[-1], 10.5 + 2 * population_sd, rel_tol=1e-12)
    assert not math.isclose(upper[-1], 10.5 + 2 * float(np.std(closes, ddof=1)), rel_tol=1e-6)


def test_too_few_candles_give_na_with_the_reason_never_a_number() -> None:
    got = ind.compute("KRW-BTC", "5m", _bars(_walk(14, seed=3), timedelta(minutes=5)))
    assert got.rsi14 is None and got.na["rsi14"] == "needs 15 5m candles, have 14"
    assert got.macd is None and got.bb_upper is None and got.bb_percent_b is None and got.volume_ratio is None
    assert set(got.na) >= {"rsi14", "macd", "macd_signal", "bollinger", "sma200", "ema200", "volume_ratio"}
    text = got.to_context()
    assert "RSI14(5m) n/a" in text and "n/a (14 5m candles; warm-up needs rsi14 15" in text
    empty = ind.compute("KRW-BTC", "1m", [])
    assert empty.candles == 0 and empty.close is None and empty.rsi14 is None and empty.as_of is None


def _series(bars: list[Candle], interval: str = "1m") -> CandleSeries:
    fresh = Freshness(as_of=bars[-1].t if bars else None, lag_seconds=1.0, stale=False)
    return CandleSeries(market="KRW-BTC", interval=interval, candles=bars, freshness=fresh)  # type: ignore[arg-type]


def test_the_open_candle_is_dropped_unless_asked_for() -> None:
    bars = _bars(_walk(40, seed=5), timedelta(minutes=1))
    clock = bars[-1].t + timedelta(seconds=30)  # the ingest clock is inside the last minute: it is still open
    closed, filled, open_in = ind.prepare(_series(bars), clock=clock)
    assert closed == bars[:-1] and filled == 0 and not open_in
    with_open, _, open_in = ind.prepare(_series(bars), clock=clock, include_open=True)
    assert with_open == bars and open_in
    later, _, open_in = ind.prepare(_series(bars), clock=bars[-1].t + timedelta(minutes=1))
    assert later == bars and not open_in  # once the clock passes its end the last candle is closed
    a = ind.compute("KRW-BTC", "1m", closed)
    b = ind.compute("KRW-BTC", "1m", with_open, open_included=True, as_of=clock)
    assert a.rsi14 != b.rsi14 and b.open_included and b.as_of == clock and a.as_of == bars[-1].t


def test_missing_candles_are_filled_flat_counted_and_said() -> None:
    bars = _bars(_walk(30, seed=9), timedelta(minutes=1))
    holey = bars[:10] + bars[13:]  # three minutes without a fill
    clock = bars[-1].t + timedelta(minutes=3, seconds=5)  # and two closed minutes after the last fill
    out, filled, _ = ind.prepare(_series(holey), clock=clock)
    assert filled == 3 + 2 and len(out) == 32
    assert [c.t for c in out] == [T0 + i * timedelta(minutes=1) for i in range(32)]
    gap = out[10:13]
    assert all(c.close == bars[9].close == c.open == c.high == c.low and c.volume == 0 for c in gap)
    got = ind.compute("KRW-BTC", "1m", out, filled=filled)
    assert got.filled == 5 and "5 filled flat (no trades)" in got.to_context()


def test_indicator_context_stays_within_300_tokens_and_labels_every_value_with_its_interval() -> None:
    closes = [round(0.000123456 * (1 + 0.3 * math.sin(i / 7)), 10) for i in range(499)]
    got = ind.compute("KRW-LONGCOINNAME", "1d", _bars(closes, timedelta(days=1)), filled=321)
    got.notes.append("2 ingest gap(s) in window, filled flat")
    text = got.to_context()
    assert count_tokens(text) <= INDICATORS_BUDGET
    for label in ("RSI14(1d)", "MACD(1d)", "BB20/2sd(1d)", "SMA200(1d)", "EMA50(1d)", "volume(1d)"):
        assert label in text
    assert "499 closed 1d candles, 321 filled flat" in text and "ingest gap" in text


def test_chart_overlay_points_match_the_single_result() -> None:
    bars = _bars(_walk(300, seed=11), timedelta(minutes=5))
    points = ind.overlay(bars, keep=120)
    got = ind.compute("KRW-BTC", "5m", bars)
    assert len(points) == 120 and points[-1].t == bars[-1].t
    assert points[-1].rsi14 == got.rsi14 and points[-1].ema200 == got.ema200 and points[-1].bb_upper == got.bb_upper
    early = ind.overlay(bars, keep=300)
    assert early[0].sma20 is None and early[19].sma20 is not None and early[198].sma200 is None
