"""Units and budgets without a database: fractions become percents exactly once; contexts fit their token budgets."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import context
from analytics.models import (
    AnomalyItem,
    Breadth,
    CoinBrief,
    CoinLine,
    Freshness,
    Gap,
    IndicatorSet,
    MarketOverview,
    MarketRef,
)
from analytics.tokens import count_tokens
from analytics.units import change_pct, fmt_krw, fmt_pct, fraction_to_pct, position_pct

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
fractions = st.floats(min_value=-0.99, max_value=20.0, allow_nan=False, allow_infinity=False)
prices = st.floats(min_value=1e-8, max_value=1e10, allow_nan=False, allow_infinity=False)
names = st.text(
    alphabet=st.sampled_from("가나다라마바사아자차카타파하비트코인이더리움ABCXYZ abc"), min_size=0, max_size=24
)


def _pct_in(text: str) -> list[float]:
    return [float(m) for m in re.findall(r"([+-]\d+\.\d+)%", text)]


@given(fractions)
def test_upbit_fraction_becomes_a_percent_exactly_once(fraction: float) -> None:
    pct = fraction_to_pct(fraction)
    assert pct is not None
    assert abs(pct - fraction * 100) <= 1e-9 * max(1.0, abs(fraction * 100))
    shown = _pct_in(fmt_pct(pct))
    assert len(shown) == 1 and abs(shown[0] - fraction * 100) <= 0.005 + 1e-9
    # the sign survives and a fraction is never printed as if it were a percent
    assert (shown[0] >= 0) == (fraction * 100 >= -0.005)


@given(prices, fractions)
def test_change_pct_and_the_fraction_describe_the_same_move(old: float, fraction: float) -> None:
    new = old * (1 + fraction)
    pct = change_pct(new, old)
    assert pct is not None and abs(pct - fraction * 100) <= 1e-6 * max(1.0, abs(fraction) * 100)


@given(prices, prices, prices)
def test_range_position_is_a_share_between_zero_and_hundred(a: float, b: float, c: float) -> None:
    low, mid, high = sorted((a, b, c))
    pos = position_pct(mid, low, high)
    assert pos is None or 0.0 <= pos <= 100.0


def test_krw_values_are_scaled_not_mistaken_for_percents() -> None:
    assert fmt_krw(1.234e12) == "1.23T"
    assert fmt_krw(45_600_000_000) == "45.6B"
    assert fmt_krw(789_000_000) == "789M"
    assert "%" not in fmt_krw(0.05)


def _fresh() -> Freshness:
    gaps = [Gap(code=None, start=NOW, end=None, reason="websocket closed 1006 " * 5)]
    return Freshness(as_of=NOW, lag_seconds=3.0, stale=True, markets_reporting=300, gaps=gaps, open_gaps=1)


def _line(i: int, name: str, fraction: float) -> CoinLine:
    return CoinLine(
        market=f"KRW-C{i:04d}",
        symbol=f"C{i:04d}",
        korean_name=name * 3,
        price=12345.678 * (i + 1),
        change_24h_pct=fraction_to_pct(fraction),
        change_5m_pct=fraction_to_pct(fraction / 7),
        change_1h_pct=fraction_to_pct(fraction / 3),
        value_24h_upbit_krw=1e11 * (i + 1),
    )


def _anomaly(i: int) -> AnomalyItem:
    return AnomalyItem(
        id=i,
        market=f"KRW-C{i:04d}",
        kind="value_spike_with_a_long_kind_name",
        severity="critical",
        status="escalated",
        started_at=NOW,
        detected_at=NOW,
        metrics={"ratio": 12.5},
    )


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(names, fractions), min_size=150, max_size=320))
def test_market_overview_context_never_exceeds_500_tokens_for_150_plus_markets(
    markets: list[tuple[str, float]],
) -> None:
    lines = [_line(i, name, f) for i, (name, f) in enumerate(markets)]
    breadth = Breadth(window="prev_close", up=100, down=100, flat=len(lines) - 200, total=len(lines))
    overview = MarketOverview(
        quote="KRW",
        freshness=_fresh(),
        markets=len(lines),
        breadth_prev_close=breadth,
        breadth_5m=breadth.model_copy(update={"window": "5m"}),
        breadth_1h=breadth.model_copy(update={"window": "1h"}),
        value_24h_upbit_krw=3.2e12,
        value_1h_fills_krw=1.5e11,
        btc=lines[0],
        eth=lines[1],
        gainers=lines[:5],
        losers=lines[5:10],
        value_leaders=lines[10:15],
        movers_5m=lines[15:20],
        open_anomalies=[_anomaly(i) for i in range(5)],
        open_anomalies_count=40,
    )
    text = overview.to_context()
    assert count_tokens(text) <= context.OVERVIEW_BUDGET
    assert "as of 2026-11-24T12:00:00Z" in text


@settings(max_examples=40, deadline=None)
@given(
    names,
    names,
    fractions,
    st.lists(
        st.sampled_from(
            [
                "PRICE_FLUCTUATIONS",
                "TRADING_VOLUME_SOARING",
                "DEPOSIT_AMOUNT_SOARING",
                "GLOBAL_PRICE_DIFFERENCES",
                "CONCENTRATION_OF_SMALL_ACCOUNTS",
            ]
        ),
        max_size=5,
    ),
)
def test_coin_brief_context_never_exceeds_250_tokens(ko: str, en: str, fraction: float, caution: list[str]) -> None:
    ref = MarketRef(
        market="KRW-LONGNAME",
        symbol="LONGNAME",
        quote="KRW",
        korean_name=ko * 4,
        english_name=en * 4,
        warning=True,
        caution=caution,
    )
    brief = CoinBrief(
        ref=ref,
        freshness=_fresh(),
        price=0.000123456,
        prev_close=0.0001,
        change_1m_pct=fraction_to_pct(fraction),
        change_5m_pct=-12.3456,
        change_1h_pct=33.3,
        change_24h_pct=fraction_to_pct(fraction),
        value_1h_fills_krw=1.2e10,
        value_baseline_1h_fills_krw=3.4e9,
        value_vs_baseline=3.53,
        value_24h_upbit_krw=9e11,
        day_low=0.0001,
        day_high=0.0002,
        day_position_pct=23.0,
        low_52w=0.00001,
        high_52w=0.001,
        position_52w_pct=12.0,
        buy_share_1h_pct=61.0,
        bid_ask_volume_ratio_day=1.4,
        market_warning="CAUTION",
        anomalies=[_anomaly(i) for i in range(5)],
        indicators=_long_indicators(),
    )
    text = brief.to_context()
    assert count_tokens(text) <= context.COIN_BRIEF_BUDGET
    assert fmt_pct(fraction_to_pct(fraction)) in text  # the 24h change is shown as a percent, not a fraction


def test_coin_brief_keeps_its_indicator_line_within_250_tokens_with_every_flag_and_anomaly() -> None:
    ref = MarketRef(
        market="KRW-SHIB",
        symbol="SHIB",
        quote="KRW",
        korean_name="시바이누",
        english_name="Shiba Inu",
        warning=True,
        caution=["PRICE_FLUCTUATIONS", "TRADING_VOLUME_SOARING", "DEPOSIT_AMOUNT_SOARING"],
    )
    brief = CoinBrief(
        ref=ref,
        freshness=_fresh(),
        price=0.000123456,
        prev_close=0.0001,
        change_1m_pct=-0.1234,
        change_5m_pct=-12.3456,
        change_1h_pct=33.3,
        change_24h_pct=23.4567,
        value_1h_fills_krw=1.2e10,
        value_baseline_1h_fills_krw=3.4e9,
        value_vs_baseline=3.53,
        value_24h_upbit_krw=9e11,
        day_low=0.0001,
        day_high=0.0002,
        day_position_pct=23.0,
        low_52w=0.00001,
        high_52w=0.001,
        position_52w_pct=12.0,
        buy_share_1h_pct=61.0,
        bid_ask_volume_ratio_day=1.4,
        market_warning="CAUTION",
        anomalies=[
            _anomaly(i).model_copy(update={"market": "KRW-SHIB", "kind": kind})
            for i, kind in enumerate(("value_spike", "price_jump", "buy_burst"))
        ],
        indicators=_long_indicators(),
    )
    text = brief.to_context()
    assert count_tokens(text) <= context.COIN_BRIEF_BUDGET
    assert "RSI14(1h) 71.2" in text
    assert "anomalies: #" in text and "TRADING_VOLUME_SOARING" in text


def _long_indicators() -> IndicatorSet:
    """Indicators with the longest figures a brief can carry (tiny-priced coin, negative MACD, gaps filled)."""
    t = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    return IndicatorSet(
        market="KRW-LONGNAME",
        interval="1h",
        candles=499,
        filled=123,
        last_t=t,
        as_of=t,
        close=0.000123456,
        rsi14=71.234,
        macd=-0.0000012345,
        macd_signal=-0.0000011111,
        macd_hist=-0.00000012345,
        bb_mid=0.00012,
        bb_upper=0.00013,
        bb_lower=0.00011,
        bb_percent_b=1.0123,
        bb_bandwidth_pct=16.66,
        ema20=0.000121,
        ema50=0.000119,
        ema200=0.000131,
        volume=123456789.123,
        volume_avg20=23456789.1,
        volume_ratio=5.26,
    )


def test_fit_to_budget_cuts_text_that_no_level_fits() -> None:
    text = context.fit_to_budget(lambda level: "비트코인 " * 2000, 3, 100)
    assert 0 < count_tokens(text) <= 100


def test_token_counts_come_from_a_real_bpe_not_characters() -> None:
    assert count_tokens("KRW-BTC") < len("KRW-BTC")
    assert count_tokens("비트코인 비트코인 비트코인") != len("비트코인 비트코인 비트코인")
    assert count_tokens("") == 0
