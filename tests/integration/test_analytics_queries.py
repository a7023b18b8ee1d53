"""Analytics against a real migrated database filled with the consumer's writer: every number checked by hand."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import anomalies, candles, coin, context, movers, overview, resolver, summaries
from analytics.tokens import count_tokens
from analytics.units import fmt_pct
from db.connection import connect
from tests.conftest import make_scratch_db
from tests.support.analytics_data import catalog_entry, fill_simulated, tick
from tests.support.rows import load_catalog, load_messages
from upbit_core.settings import Settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

MINUTES = 120
PREV_BTC = 100_000_000.0


def btc_price(m: int) -> float:
    return PREV_BTC + 10_000.0 * m + (50_000.0 if m % 7 == 0 else 0.0)


def btc_volume(m: int) -> float:
    return 0.01 * (1 + m % 3)


def btc_side(m: int) -> str:
    return "BID" if m % 3 else "ASK"


class Scenario:
    """Hand-made history: one tick per minute for KRW-BTC, a falling KRW-ETH, a flat KRW-W, and BTC-ETH."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Minute-aligned, and 15 s back so the last tick (10 s into its minute) is never in the future.
        now = (datetime.now(UTC) - timedelta(seconds=15)).replace(second=0, microsecond=0) - timedelta(minutes=MINUTES)
        self.t0 = now  # minute 0 bucket start
        self.ms = lambda m: int((now + timedelta(minutes=m, seconds=10)).timestamp() * 1000)
        load_catalog(
            settings,
            [
                catalog_entry("KRW-BTC", "비트코인", "Bitcoin"),
                catalog_entry("KRW-ETH", "이더리움", "Ethereum"),
                catalog_entry("KRW-W", "웜홀", "Wormhole", warning=True, PRICE_FLUCTUATIONS=True),
                catalog_entry("BTC-ETH", "이더리움", "Ethereum"),
            ],
        )
        msgs = []
        for m in range(MINUTES + 1):
            msgs.append(
                tick(
                    "KRW-BTC",
                    self.ms(m),
                    btc_price(m),
                    prev_close=PREV_BTC,
                    volume=btc_volume(m),
                    side=btc_side(m),
                    high=btc_price(MINUTES) + 1_000_000,
                    low=PREV_BTC - 1_000_000,
                    value_24h=5e11,
                    high_52w=2 * PREV_BTC,
                    low_52w=PREV_BTC / 2,
                    acc_bid=30.0,
                    acc_ask=20.0,
                )
            )
        for m in (0, 60, 100, MINUTES):
            msgs.append(tick("KRW-ETH", self.ms(m) + 1, 5_000_000 - 10_000 * m, prev_close=5_000_000, value_24h=2e11))
        msgs.append(tick("KRW-W", self.ms(MINUTES) - 5, 150.0, prev_close=150.0, value_24h=3e9))
        msgs.append(tick("BTC-ETH", self.ms(MINUTES) - 9, 0.05, prev_close=0.049, value_24h=12.0))
        assert load_messages(settings, msgs) == len(msgs)
        self.as_of = datetime.fromtimestamp(self.ms(MINUTES) / 1000, tz=UTC)


@pytest.fixture(scope="module")
def scenario() -> Iterator[Scenario]:
    gen = make_scratch_db()
    settings = next(gen)
    try:
        yield Scenario(settings)
    finally:
        gen.close()


@pytest.fixture
def conn(scenario: Scenario) -> Iterator[object]:
    c = connect(scenario.settings)
    c.autocommit = True
    yield c
    c.close()


def approx(value: float | None, expected: float, rel: float = 1e-9) -> bool:
    return value is not None and abs(value - expected) <= rel * max(1.0, abs(expected))


def test_coin_brief_numbers_match_a_hand_computation(scenario: Scenario, conn) -> None:  # type: ignore[no-untyped-def]
    b = coin.coin_brief(conn, "KRW-BTC")
    now = btc_price(MINUTES)
    assert b.freshness.as_of == scenario.as_of and b.price == now
    assert approx(b.change_24h_pct, (now / PREV_BTC - 1) * 100)
    # price N minutes ago = close of the last complete minute ending by then
    assert approx(b.change_1m_pct, (now / btc_price(MINUTES - 2) - 1) * 100)
    assert approx(b.change_5m_pct, (now / btc_price(MINUTES - 6) - 1) * 100)
    assert approx(b.change_1h_pct, (now / btc_price(MINUTES - 61) - 1) * 100)
    last_hour = range(MINUTES - 59, MINUTES + 1)
    value_1h = sum(btc_price(m) * btc_volume(m) for m in last_hour)
    assert approx(b.value_1h_fills_krw, value_1h, 1e-9)
    prior = sum(btc_price(m) * btc_volume(m) for m in range(0, MINUTES - 59))
    hours = (scenario.as_of - timedelta(hours=1) - scenario.t0).total_seconds() / 3600
    assert approx(b.value_baseline_1h_fills_krw, prior / hours, 1e-9)
    assert approx(b.value_vs_baseline, value_1h / (prior / hours), 1e-9)
    buy = sum(btc_price(m) * btc_volume(m) for m in last_hour if btc_side(m) == "BID")
    assert approx(b.buy_share_1h_pct, buy / value_1h * 100, 1e-9)
    low, high = PREV_BTC - 1_000_000, btc_price(MINUTES) + 1_000_000
    assert approx(b.day_position_pct, (now - low) / (high - low) * 100)
    assert approx(b.position_52w_pct, (now - PREV_BTC / 2) / (1.5 * PREV_BTC) * 100)
    assert approx(b.bid_ask_volume_ratio_day, 1.5)
    assert b.value_24h_upbit_krw == 5e11
    text = b.to_context()
    assert count_tokens(text) <= context.COIN_BRIEF_BUDGET
    assert fmt_pct(b.change_24h_pct) in text and "as of" in text


def test_coin_brief_accepts_names_and_reports_caution_flags(conn) -> None:  # type: ignore[no-untyped-def]
    b = coin.coin_brief(conn, "웜홀")
    assert b.ref.market == "KRW-W" and b.ref.warning and b.ref.caution == ["PRICE_FLUCTUATIONS"]
    assert "PRICE_FLUCTUATIONS" in b.to_context()
    assert b.change_24h_pct == 0.0


def test_coin_brief_of_an_unknown_coin_raises_lookup_error_with_suggestions(conn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LookupError, match="closest"):
        coin.coin_brief(conn, "이더리음음음")


def test_non_krw_markets_never_claim_krw_values(conn) -> None:  # type: ignore[no-untyped-def]
    b = coin.coin_brief(conn, "BTC-ETH")
    assert b.value_24h_upbit_krw is None and b.value_1h_fills_krw is None
    assert approx(b.change_24h_pct, (0.05 / 0.049 - 1) * 100, 1e-6)


def test_market_overview_counts_breadth_and_sums_values(scenario: Scenario, conn) -> None:  # type: ignore[no-untyped-def]
    o = overview.market_overview(conn)
    assert o.markets == 3 and o.quote == "KRW"
    pc = o.breadth_prev_close
    assert (pc.up, pc.down, pc.flat, pc.total) == (1, 1, 1, 3)
    assert o.value_24h_upbit_krw == 5e11 + 2e11 + 3e9
    assert [g.market for g in o.gainers] == ["KRW-BTC"] and [g.market for g in o.losers] == ["KRW-ETH"]
    assert [v.market for v in o.value_leaders] == ["KRW-BTC", "KRW-ETH", "KRW-W"]
    assert o.btc is not None and approx(o.btc.change_24h_pct, (btc_price(MINUTES) / PREV_BTC - 1) * 100)
    # ETH traded at minutes 0, 60, 100, 120: an hour before as-of (minute 59) its price was still minute 0's
    assert o.eth is not None and approx(o.eth.change_1h_pct, ((5_000_000 - 10_000 * MINUTES) / 5_000_000 - 1) * 100)
    assert o.freshness.as_of == scenario.as_of + timedelta(milliseconds=1)  # ETH traded 1 ms after BTC
    assert o.to_context().startswith("Upbit KRW market, 3 markets, as of")


def test_top_movers_rank_signed_percent_over_each_window(conn) -> None:  # type: ignore[no-untyped-def]
    gainers = movers.top_movers(conn, window="24h", direction="gainers")
    assert [m.market for m in gainers.items] == ["KRW-BTC"]
    losers = movers.top_movers(conn, window="1h", direction="losers")
    assert [m.market for m in losers.items] == ["KRW-ETH"] and (losers.items[0].change_pct or 0) < 0
    both = movers.top_movers(conn, window="1h", direction="both", limit=1)
    assert len(both.items) == 1 and both.truncated


def test_candles_rebuild_ohlc_from_the_ticks(scenario: Scenario, conn) -> None:  # type: ignore[no-untyped-def]
    c = candles.candles(conn, "KRW-BTC", "1m", 5)
    assert [x.close for x in c.candles] == [btc_price(m) for m in range(MINUTES - 4, MINUTES + 1)]
    five = candles.candles(conn, "KRW-BTC", "5m", 3)
    last = five.candles[-1]
    minutes = [m for m in range(MINUTES + 1) if scenario.t0 + timedelta(minutes=m) >= last.t]
    assert last.open == btc_price(minutes[0]) and last.close == btc_price(minutes[-1])
    assert last.high == max(btc_price(m) for m in minutes) and last.fills == len(minutes)
    assert candles.candles(conn, "KRW-BTC", "1h", 10_000).truncated


def test_anomalies_and_summaries_are_read_with_status_and_age(scenario: Scenario, conn) -> None:  # type: ignore[no-untyped-def]
    writer = connect(scenario.settings)
    with writer, writer.cursor() as cur:
        for i, (status, sev) in enumerate([("open", "high"), ("resolved", "low"), ("escalated", "critical")]):
            cur.execute(
                "INSERT INTO anomalies (market, kind, severity, status, started_at, detected_at, metrics, "
                "interpretation, dedup_key) VALUES ('KRW-BTC', 'value_spike', %s, %s, %s, %s, %s, %s, %s)",
                (
                    sev,
                    status,
                    scenario.as_of - timedelta(minutes=10 - i),
                    scenario.as_of,
                    json.dumps({"ratio": 4.2 + i}),
                    json.dumps({"text": "거래대금 급증"}),
                    f"t{i}",
                ),
            )
        cur.execute(
            "INSERT INTO llm_results (kind, window_key, as_of, model, context, text, markets) "
            "VALUES ('market_summary', 'w1', %s, 'offline-analyst', '{}', '시장 요약', ARRAY['KRW-BTC'])",
            (scenario.as_of,),
        )
    writer.close()
    open_ = anomalies.recent_anomalies(conn, status="open")
    assert [a.status for a in open_.items] == ["escalated", "open"] and open_.total == 2
    capped = anomalies.recent_anomalies(conn, limit=1)
    assert capped.total == 3 and capped.truncated and capped.items[0].interpretation == "거래대금 급증"
    assert anomalies.recent_anomalies(conn, min_severity="critical").total == 1
    s = summaries.latest_summary(conn, market="KRW-BTC")
    assert s.found and s.summary is not None and s.summary.text == "시장 요약" and (s.age_seconds or 0) >= 0
    assert not summaries.latest_summary(conn, kind="coin_qa").found


def test_an_open_ingest_gap_marks_results_stale(scenario: Scenario, conn) -> None:  # type: ignore[no-untyped-def]
    writer = connect(scenario.settings)
    with writer, writer.cursor() as cur:
        cur.execute(
            "INSERT INTO ingest_gaps (code, gap_start, reason) VALUES (NULL, %s, 'ws closed')", (scenario.as_of,)
        )
    writer.close()
    try:
        b = coin.coin_brief(conn, "KRW-BTC")
        assert b.freshness.stale and b.freshness.open_gaps == 1 and "open 1" in b.to_context()
    finally:
        writer = connect(scenario.settings)
        with writer, writer.cursor() as cur:
            cur.execute("DELETE FROM ingest_gaps")
        writer.close()


def test_resolver_reads_the_catalog_from_the_database(conn) -> None:  # type: ignore[no-untyped-def]
    assert resolver.resolve(conn, "웜홀 어때").market.market == "KRW-W"  # type: ignore[union-attr]
    assert [m.market for m in resolver.find_coins(conn, "비트랑 이더 어때?")] == ["KRW-BTC", "KRW-ETH"]


# --- the property: no fraction/percent mix-up anywhere ------------------------------------------------------------


@pytest.fixture(scope="module")
def property_db() -> Iterator[Settings]:
    gen = make_scratch_db()
    settings = next(gen)
    load_catalog(settings, [catalog_entry(f"KRW-P{i}", f"코인{i}", f"Coin{i}") for i in range(3)])
    try:
        yield settings
    finally:
        gen.close()


moves = st.floats(min_value=-0.9, max_value=5.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(moves, moves), min_size=3, max_size=3))
def test_every_percent_in_every_result_is_upbits_fraction_times_100(
    property_db: Settings, paths: list[tuple[float, float]]
) -> None:
    writer = connect(property_db)
    with writer, writer.cursor() as cur:
        cur.execute("TRUNCATE ticker_data, ticker_latest, agg_invalidations, ohlcv_1m_store")
    writer.close()
    now_ms = int(time.time() * 1000)
    prev = 1000.0
    msgs = []
    for i, (then_f, now_f) in enumerate(paths):
        msgs.append(tick(f"KRW-P{i}", now_ms - 90 * 60_000, prev * (1 + then_f), prev_close=prev))
        msgs.append(tick(f"KRW-P{i}", now_ms - i, prev * (1 + now_f), prev_close=prev))
    load_messages(property_db, msgs)
    conn = connect(property_db)
    try:
        o = overview.market_overview(conn)
        m24 = {m.market: m.change_pct for m in movers.top_movers(conn, window="24h").items}
        m1h = {m.market: m.change_pct for m in movers.top_movers(conn, window="1h").items}
        for i, (then_f, now_f) in enumerate(paths):
            code = f"KRW-P{i}"
            b = coin.coin_brief(conn, code)
            expected_24h = ((prev * (1 + now_f)) / prev - 1) * 100  # what Upbit's fraction means, in percent
            expected_1h = ((1 + now_f) / (1 + then_f) - 1) * 100
            assert approx(b.change_24h_pct, expected_24h, 1e-9)
            assert approx(b.change_1h_pct, expected_1h, 1e-9)
            assert fmt_pct(expected_24h) in b.to_context()
            if abs(expected_24h) > 0:
                assert approx(m24[code], expected_24h, 1e-9)
            if abs(expected_1h) > 0:
                assert approx(m1h[code], expected_1h, 1e-9)
            lines = {x.market: x for x in o.gainers + o.losers}
            if code in lines:
                assert approx(lines[code].change_24h_pct, expected_24h, 1e-9)
        assert o.breadth_prev_close.up == sum(1 for _, f in paths if prev * (1 + f) > prev)
        assert o.breadth_prev_close.down == sum(1 for _, f in paths if prev * (1 + f) < prev)
    finally:
        conn.close()


# --- token budgets and `upbit-llm tokens` on a simulated 160-market database ---------------------------------------


@pytest.mark.slow
def test_tokens_command_shows_overview_within_500_tokens_and_99_percent_saving_on_160_markets(
    scratch_db: Settings,
) -> None:
    fill_simulated(scratch_db, markets=160, minutes=20, rate=10.0)
    env = {
        "PATH": "/usr/bin:/bin",
        "TIMESCALEDB_DBNAME": scratch_db.timescaledb_dbname,
        "TIMESCALEDB_HOST": scratch_db.timescaledb_host,
        "TIMESCALEDB_PORT": str(scratch_db.timescaledb_port),
        "TIMESCALEDB_MODE": "off",
        "ANTHROPIC_API_KEY": "",
    }
    out = subprocess.run(
        [sys.executable, "-m", "upbit_llm", "tokens", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    report = json.loads(out.stdout)
    assert report["markets"] == 160 and report["raw_tokens"] >= 40_000
    first = report["contexts"][0]
    assert first["name"] == "market_overview" and first["tokens"] <= 500 and first["saving_pct"] >= 99.0
    assert all(c["within_budget"] is not False for c in report["contexts"])
    assert report["goal_met"] is True
    human = subprocess.run(
        [sys.executable, "-m", "upbit_llm", "tokens"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    assert "goal" in human.stdout and "met" in human.stdout and "market_overview" in human.stdout


def test_tokens_command_on_an_empty_database_says_what_to_run(scratch_db: Settings) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "TIMESCALEDB_DBNAME": scratch_db.timescaledb_dbname,
        "TIMESCALEDB_MODE": "off",
        "ANTHROPIC_API_KEY": "",
    }
    out = subprocess.run(
        [sys.executable, "-m", "upbit_llm", "tokens"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert out.returncode == 1
    assert "no tickers" in out.stderr and "ingest" in out.stderr
