"""The offline analyst: deterministic, marked as offline, Korean and English, grounded in the same context."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics.models import Breadth, CoinBrief, CoinLine, Freshness, MarketOverview, MarketRef
from llm import offline
from llm.interpret import parse_reading
from llm.summary import describe_changes
from llm.verify import verify

AS_OF = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)


def _line(symbol: str, ko: str, price: float, ch: float, ch5: float | None = None) -> CoinLine:
    return CoinLine(
        market=f"KRW-{symbol}",
        symbol=symbol,
        korean_name=ko,
        price=price,
        change_24h_pct=ch,
        change_5m_pct=ch5,
        value_24h_upbit_krw=12.3e9,
    )


def overview(up: int = 87, btc_change: float = 1.25) -> MarketOverview:
    return MarketOverview(
        quote="KRW",
        freshness=Freshness(as_of=AS_OF, lag_seconds=3.0, stale=False, markets_reporting=160),
        markets=160,
        breadth_prev_close=Breadth(window="prev_close", up=up, down=60, flat=160 - up - 60, total=160),
        breadth_5m=Breadth(window="5m", up=70, down=80, flat=10, total=160),
        breadth_1h=Breadth(window="1h", up=90, down=65, flat=5, total=160),
        value_24h_upbit_krw=1.23e12,
        value_1h_fills_krw=45.6e9,
        btc=_line("BTC", "비트코인", 143_250_000, btc_change, 0.31),
        eth=_line("ETH", "이더리움", 4_927_000, 3.31, 1.2),
        gainers=[_line("W", "웜홀", 157, 12.34, 3.02), _line("SUI", "수이", 5388, 11.05)],
        losers=[_line("VET", "비체인", 32.47, -11.48, -11.91)],
        value_leaders=[_line("BTC", "비트코인", 143_250_000, btc_change)],
        movers_5m=[_line("VET", "비체인", 32.47, -11.48, -11.91)],
    )


def brief() -> CoinBrief:
    return CoinBrief(
        ref=MarketRef(market="KRW-W", symbol="W", quote="KRW", korean_name="웜홀", english_name="Wormhole"),
        freshness=Freshness(as_of=AS_OF, lag_seconds=3.0, stale=False, markets_reporting=1),
        price=157,
        prev_close=150,
        change_1m_pct=0.2,
        change_5m_pct=3.02,
        change_1h_pct=None,
        change_24h_pct=4.61,
        value_1h_fills_krw=213e6,
        value_baseline_1h_fills_krw=136e6,
        value_vs_baseline=1.57,
        value_24h_upbit_krw=18e9,
        day_low=147,
        day_high=158,
        day_position_pct=91,
        low_52w=None,
        high_52w=None,
        position_52w_pct=None,
        buy_share_1h_pct=58,
        bid_ask_volume_ratio_day=1.1,
    )


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_offline_summary_is_marked_deterministic_and_grounded_in_the_context(lang: str) -> None:
    ov = overview()
    text = offline.summary_text(ov, [], lang)
    assert text.startswith(offline.MARK[lang])
    assert text == offline.summary_text(ov, [], lang)
    assert "+12.34%" in text and ("1.23조원" if lang == "ko" else "1.23T") in text
    assert "24시간 상승" not in text and "gainers 24h" not in text  # a change since the previous close is not 24 h
    report = verify(text, ov.to_context())
    assert report.ok, report.describe()


def test_offline_summary_reports_what_changed_since_the_previous_one() -> None:
    previous = overview(up=80, btc_change=1.10).model_dump(mode="json")
    changes = describe_changes(previous, overview(), "ko")
    assert any("80/60 → 87/60" in c for c in changes)
    assert any("+1.10% → " in c and "+1.25%" in c for c in changes)
    text = offline.summary_text(overview(), changes, "ko")
    assert "직전 요약 이후: " in text and "80/60 → 87/60" in text
    context = overview().to_context() + "\nCHANGES since previous summary:\n" + "\n".join(f"- {c}" for c in changes)
    report = verify(text, context)
    assert report.ok, report.describe()
    assert describe_changes(None, overview(), "ko") == []


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_offline_answer_skips_missing_figures_and_stays_grounded(lang: str) -> None:
    b = brief()
    text = offline.coin_answer([b], lang)
    assert text.startswith(offline.MARK[lang]) and "n/a" not in text
    assert ("웜홀(KRW-W)" if lang == "ko" else "Wormhole (KRW-W)") in text
    report = verify(text, b.to_context())
    assert report.ok, report.describe()


def test_offline_interpretation_gives_a_category_confidence_and_what_to_watch() -> None:
    reading = offline.interpretation({"market": "KRW-W", "kind": "value_spike", "severity": "high"}, brief(), "en")
    assert reading["cause_category"] == "whale_trade" and reading["confidence"] == "medium"
    assert reading["watch_next"] and reading["text"].startswith(offline.MARK["en"])
    unknown = offline.interpretation({"market": "KRW-W", "kind": "new_kind", "severity": "low"}, None, "ko")
    assert unknown["cause_category"] == "unknown" and unknown["confidence"] == "low"


def test_interpretation_replies_are_parsed_and_normalised() -> None:
    reading = parse_reading(
        'Sure: {"cause_category": "whale_trade", "confidence": "high", "watch_next": "x", "text": "t"}'
    )
    assert reading == {"cause_category": "whale_trade", "confidence": "high", "watch_next": ["x"], "text": "t"}
    bad = parse_reading('{"cause_category": "aliens", "confidence": "certain"} trailing')
    assert bad["cause_category"] == "unknown" and bad["confidence"] == "low"
    prose = parse_reading("not json at all")
    assert prose["cause_category"] == "unknown" and prose["text"] == "not json at all"


_EVENTS: dict[str, dict[str, object]] = {
    "pump": {"price_change_pct": 3.412, "value_ratio": 6.52, "window_seconds": 300, "buy_share_pct": 71.4},
    "dump": {"price_change_pct": -4.8, "value_ratio": 5.1, "window_seconds": 120},
    "price_jump": {"price_change_pct": 2.25, "value_ratio": 1.3, "window_seconds": 60},
    "value_spike": {"value_ratio": 8.4, "value_krw": 812_345_678.9, "baseline_value_krw": 96_700_000.0,
                    "window_seconds": 300},
    "buy_burst": {"buy_share_pct": 88.5, "value_ratio": 3.2, "window_seconds": 300},
    "market_move": {"markets_moving": 41, "markets_liquid": 55, "median_change_pct": -2.61, "direction": "down",
                    "window_seconds": 300},
    "caution_flag": {"flags_set": ["TRADING_VOLUME_SOARING"], "flags_cleared": []},
    "data_stale": {"reason": "feed_stopped"},
}  # fmt: skip


@pytest.mark.parametrize("lang", ["ko", "en"])
@pytest.mark.parametrize("kind", sorted(_EVENTS))
def test_offline_reading_covers_every_detector_kind_with_verified_figures(kind: str, lang: str) -> None:
    from llm.interpret import _event_context
    from llm.verify import verify_fields

    market = "MARKET" if kind in ("market_move", "data_stale") else "KRW-W"
    row = {"id": 7, "market": market, "kind": kind, "severity": "high", "status": "open", "started_at": AS_OF,
           "detected_at": AS_OF, "metrics": _EVENTS[kind]}  # fmt: skip
    b = None if row["market"] == "MARKET" else brief()
    context = _event_context(row) + ("\n" + b.to_context() if b else "")
    reading = offline.interpretation(row, b, lang)
    assert reading["cause_category"] != "unknown" and reading["watch_next"]
    report = verify_fields({"text": reading["text"], "watch_next": reading["watch_next"]}, context)
    assert report.ok, report.describe()
    if kind == "caution_flag":
        assert ("거래량 급등" if lang == "ko" else "trading volume soaring") in reading["text"]
    if kind in ("pump", "dump", "value_spike", "market_move") and lang == "ko":
        assert "23:30 KST" in reading["text"] and any(ch.isdigit() for ch in reading["text"])
