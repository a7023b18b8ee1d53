"""The market simulator: deterministic, realistic catalog and prices, consistent fields, labelled events."""

from __future__ import annotations

import collections
from typing import Any

import pytest

from fake_upbit.simulator import EventPlan, MarketSimulator, round_price
from ingest.ticker import validation_errors

START_MS = 1_767_243_600_000  # 2026-01-01 05:00 UTC


@pytest.fixture(scope="module")
def run() -> tuple[MarketSimulator, list[dict[str, Any]]]:
    sim = MarketSimulator(markets=160, seed=1, start_ms=START_MS, rate=100)
    return sim, list(sim.messages(360))


def test_same_seed_gives_the_same_catalog_messages_and_labels() -> None:
    a = MarketSimulator(markets=160, seed=9, start_ms=START_MS)
    b = MarketSimulator(markets=160, seed=9, start_ms=START_MS)
    assert a.catalog() == b.catalog()
    assert list(a.messages(30)) == list(b.messages(30))
    assert a.labels() == b.labels()
    assert list(MarketSimulator(markets=160, seed=10, start_ms=START_MS).messages(5)) != list(a.messages(5))


def test_catalog_has_real_names_for_well_known_coins_and_a_similar_pair() -> None:
    catalog = {m["market"]: m for m in MarketSimulator(markets=160, seed=1).catalog()}
    assert len(catalog) == 160
    assert (catalog["KRW-BTC"]["korean_name"], catalog["KRW-BTC"]["english_name"]) == ("비트코인", "Bitcoin")
    assert catalog["KRW-W"]["korean_name"] == "웜홀" and catalog["KRW-W"]["english_name"] == "Wormhole"
    assert catalog["KRW-ONT"]["korean_name"] == "온톨로지" and catalog["KRW-ONG"]["korean_name"] == "온톨로지가스"
    assert set(catalog["KRW-ETH"]["market_event"]["caution"]) >= {"PRICE_FLUCTUATIONS", "TRADING_VOLUME_SOARING"}


def test_messages_are_valid_ordered_and_cover_realistic_prices(
    run: tuple[MarketSimulator, list[dict[str, Any]]],
) -> None:
    _sim, messages = run
    assert all(validation_errors(m) == [] for m in messages)
    times = [m["trade_timestamp"] for m in messages]
    assert times == sorted(times)
    assert all(m["timestamp"] >= m["trade_timestamp"] for m in messages)
    prices = [m["trade_price"] for m in messages]
    assert min(prices) < 0.01 and max(prices) > 5e7
    assert max(m["acc_trade_volume"] for m in messages) > 1e12
    assert len({m["code"] for m in messages}) >= 150
    assert 80 <= len(messages) / 360 <= 250


def test_fills_share_milliseconds_and_cumulative_fields_grow(run: tuple[MarketSimulator, list[dict[str, Any]]]) -> None:
    _sim, messages = run
    groups = collections.Counter((m["code"], m["trade_timestamp"]) for m in messages)
    assert max(groups.values()) >= 5
    last: dict[str, dict[str, Any]] = {}
    for m in messages:
        prev = last.get(m["code"])
        if prev:
            assert m["acc_trade_volume"] >= prev["acc_trade_volume"]
            assert m["acc_trade_price"] >= prev["acc_trade_price"]
        rate = (m["trade_price"] - m["prev_closing_price"]) / m["prev_closing_price"]
        assert m["signed_change_rate"] == pytest.approx(rate, abs=1e-9)
        assert m["change_rate"] == abs(m["signed_change_rate"])
        assert m["highest_52_week_price"] >= m["trade_price"] >= m["lowest_52_week_price"]
        last[m["code"]] = m


def test_a_pump_spikes_with_buyers_within_a_minute_then_reverses(
    run: tuple[MarketSimulator, list[dict[str, Any]]],
) -> None:
    sim, messages = run
    pump = next(label for label in sim.labels() if label["kind"] == "pump")
    assert pump["anomalous"] and pump["onset_ms"] - START_MS <= 180_000
    code, onset = pump["market"], pump["onset_ms"]
    mine = [m for m in messages if m["code"] == code]
    before = [m for m in mine if onset - 60_000 <= m["trade_timestamp"] < onset]
    spike = [m for m in mine if onset <= m["trade_timestamp"] < onset + 60_000]
    after = [m for m in mine if m["trade_timestamp"] >= pump["end_ms"] - 30_000]
    base_price = before[-1]["trade_price"] if before else mine[0]["trade_price"]
    peak = max(m["trade_price"] for m in spike)
    assert peak / base_price - 1 >= 0.08
    value = sum(m["trade_price"] * m["trade_volume"] for m in spike)
    value_before = sum(m["trade_price"] * m["trade_volume"] for m in before) or 1.0
    assert value / value_before > 20
    assert sum(m["ask_bid"] == "BID" for m in spike) / len(spike) > 0.75
    assert after and after[-1]["trade_price"] < peak * 0.95


def test_labels_follow_the_contract_and_trends_are_not_anomalous() -> None:
    sim = MarketSimulator(
        markets=160, seed=3, start_ms=START_MS, rate=10, plan=EventPlan(first_event_s=30, interval_s=60)
    )
    list(sim.messages(330))
    labels = sim.labels()
    kinds = {label["kind"] for label in labels}
    assert kinds >= {"pump", "volume_spike", "market_move", "dump", "trend"}
    for label in labels:
        assert set(label) == {"event_id", "market", "kind", "onset_ms", "end_ms", "anomalous", "params"}
        assert label["end_ms"] > label["onset_ms"]
        assert label["anomalous"] is (label["kind"] != "trend")
    assert next(label for label in labels if label["kind"] == "market_move")["market"] == "MARKET"


def test_a_market_wide_move_moves_most_markets_together() -> None:
    plan = EventPlan(first_event_s=60, interval_s=1000, trend_at_s=None, sequence=("market_move",))
    sim = MarketSimulator(markets=40, seed=4, start_ms=START_MS, rate=120, plan=plan)
    messages = list(sim.messages(130))
    move = sim.labels()[0]
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for m in messages:
        if m["trade_timestamp"] < move["onset_ms"]:
            first[m["code"]] = m["trade_price"]
        elif m["trade_timestamp"] >= move["end_ms"]:
            last.setdefault(m["code"], m["trade_price"])
    direction = move["params"]["direction"]
    moved = [c for c in first if c in last and (last[c] / first[c] - 1) * direction >= 0.012]
    assert len(moved) >= 0.6 * len([c for c in first if c in last])


def test_prices_are_rounded_to_upbit_like_ticks() -> None:
    assert round_price(98_512_345.0) == 98_512_000.0
    assert round_price(3_121.4) == 3_121.0
    assert round_price(0.0172345) == 0.01723
