"""Upbit REST history: the server's candle endpoint, resumable backfill under 429 storms, history from minute one
for coin briefs and the detector, and a WebSocket outage healed from REST (real server, Kafka, PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import psycopg2
import pytest

from analytics.candles import candles
from analytics.coin import coin_brief
from anomaly.scan import run_scan
from fake_upbit.candles import RestLimits
from fake_upbit.server import FakeUpbitServer, Faults
from fake_upbit.simulator import EventPlan
from fake_upbit.sources import FileSource, SimulatedSource
from ingest.gap_heal import heal_gaps
from ingest.rest_candles import RestCandleClient, backfill, unfinished_job
from tests.support.pipeline import Pipeline
from upbit_core.settings import Settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MINUTE_MS = 60_000
# A fixed, minute-aligned start: runs are reproducible candle for candle.
START_MS = 1_795_000_000_000 - 1_795_000_000_000 % MINUTE_MS


def _rows(settings: Settings, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = psycopg2.connect(settings.database_dsn())
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []
    finally:
        conn.commit()
        conn.close()


def _rest_rows(settings: Settings) -> list[tuple[object, ...]]:
    return _rows(
        settings,
        "SELECT code, bucket, open, high, low, close, volume, value, last_time FROM rest_candles_1m ORDER BY 1, 2",
    )


@pytest.fixture
def history_server() -> Iterator[FakeUpbitServer]:
    """6 markets with 8 h of REST history before START_MS (no live feed needed)."""
    source = SimulatedSource(markets=6, seed=5, start_ms=START_MS, history_hours=8, duration_s=60)
    server = FakeUpbitServer(source, speed=None, rest_limits=RestLimits(per_second=50)).start_in_thread()
    yield server
    server.stop()


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# --- the server speaks Upbit's candle protocol -----------------------------------------------------------------


def test_candle_endpoint_pages_backwards_with_exclusive_to_and_says_what_remains(
    history_server: FakeUpbitServer,
) -> None:
    url = f"{history_server.rest_url}/v1/candles/minutes/1"
    with httpx.Client() as http:
        until = _utc(START_MS)
        first = http.get(url, params={"market": "KRW-BTC", "count": 100, "to": until.isoformat()})
        assert first.status_code == 200
        assert first.headers["Remaining-Req"].startswith("group=candles; min=")
        assert "sec=" in first.headers["Remaining-Req"]
        newest = first.json()
        assert len(newest) == 100
        times = [c["candle_date_time_utc"] for c in newest]
        assert times == sorted(times, reverse=True)  # newest first
        assert times[0] < until.strftime("%Y-%m-%dT%H:%M:%S")  # `to` is exclusive
        candle = newest[0]
        assert set(candle) == {
            "market", "candle_date_time_utc", "candle_date_time_kst", "opening_price", "high_price", "low_price",
            "trade_price", "timestamp", "candle_acc_trade_price", "candle_acc_trade_volume", "unit",
        }  # fmt: skip
        kst = datetime.fromisoformat(candle["candle_date_time_kst"]) - timedelta(hours=9)
        assert kst == datetime.fromisoformat(candle["candle_date_time_utc"])
        older = http.get(url, params={"market": "KRW-BTC", "count": 200, "to": times[-1]}).json()
        assert older[0]["candle_date_time_utc"] < times[-1]  # paging with the oldest time never repeats a candle
        assert len(older) == 200
        total, to = len(newest) + len(older), older[-1]["candle_date_time_utc"] + "Z"
        while page := http.get(url, params={"market": "KRW-BTC", "count": 200, "to": to}).json():
            total, to = total + len(page), page[-1]["candle_date_time_utc"] + "Z"
        assert total == 8 * 60  # 8 h of history, every minute traded; then Upbit answers []
        # Upbit's +09:00 form names the same instant.
        kst_to = (until + timedelta(hours=9)).strftime("%Y-%m-%dT%H:%M:%S") + "+09:00"
        assert http.get(url, params={"market": "KRW-BTC", "count": 100, "to": kst_to}).json() == newest
        assert http.get(url, params={"market": "KRW-BTC", "count": 201}).status_code == 400
        assert http.get(url, params={"market": "KRW-NOPE", "count": 5}).status_code == 404
        five = http.get(f"{history_server.rest_url}/v1/candles/minutes/5", params={"market": "KRW-BTC"}).json()
        assert five[0]["unit"] == 5 and five[0]["candle_date_time_utc"].endswith(("0:00", "5:00"))


def test_candle_endpoint_answers_429_over_the_rate_and_418_to_a_client_that_ignores_them() -> None:
    source = SimulatedSource(markets=2, seed=5, start_ms=START_MS, history_hours=1, duration_s=10)
    server = FakeUpbitServer(
        source, speed=None, rest_limits=RestLimits(per_second=10, ban_after_429s=3)
    ).start_in_thread()
    try:
        url = f"{server.rest_url}/v1/candles/minutes/1"
        with httpx.Client() as http:
            codes = [http.get(url, params={"market": "KRW-BTC", "count": 1}).status_code for _ in range(40)]
        assert codes[:5] == [200] * 5
        assert 429 in codes and 418 in codes
        assert server.rest.stats.too_many >= 1 and server.rest.stats.banned >= 1
    finally:
        server.stop()


def test_replay_file_minutes_are_served_as_candles(tmp_path: Path) -> None:
    lines = []
    for i, (price, volume) in enumerate([(100.0, 1.0), (110.0, 2.0), (90.0, 1.0), (105.0, 3.0)]):
        ts = START_MS + i * 20_000  # three fills in the first minute, one in the second
        lines.append(
            orjson.dumps(
                {"type": "ticker", "code": "KRW-BTC", "trade_price": price, "trade_volume": volume,
                 "trade_timestamp": ts, "timestamp": ts + 5, "ask_bid": "BID", "stream_type": "REALTIME"}
            )
        )  # fmt: skip
    path = tmp_path / "rec.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    server = FakeUpbitServer(FileSource(path), speed=None).start_in_thread()
    try:
        got = httpx.get(
            f"{server.rest_url}/v1/candles/minutes/1",
            params={"market": "KRW-BTC", "count": 10, "to": _utc(START_MS + 10 * MINUTE_MS).isoformat()},
        ).json()
    finally:
        server.stop()
    assert [(c["opening_price"], c["high_price"], c["low_price"], c["trade_price"]) for c in got] == [
        (105.0, 105.0, 105.0, 105.0),
        (100.0, 110.0, 90.0, 90.0),
    ]
    assert got[1]["candle_acc_trade_volume"] == 4.0 and got[1]["candle_acc_trade_price"] == 100 + 220 + 90


# --- resumable backfill ------------------------------------------------------------------------------------------


def test_an_interrupted_backfill_resumed_by_the_cli_stores_the_same_rows_as_one_uninterrupted_run(
    scratch_db: Settings, history_server: FakeUpbitServer
) -> None:
    until = _utc(START_MS)
    since = until - timedelta(hours=8)
    codes = [m["market"] for m in history_server.source.catalog()]
    conn = psycopg2.connect(scratch_db.database_dsn())
    client = RestCandleClient(history_server.rest_url, requests_per_second=40)
    try:
        whole = backfill(conn, client, kind="backfill", since=since, until=until, markets=codes)
        assert not whole.interrupted and whole.markets_done == 6
        reference = _rest_rows(scratch_db)
        assert len(reference) > 6 * 400 and whole.requests == 6 * 3  # 480 minutes = 3 pages per market
        _rows(scratch_db, "TRUNCATE rest_candles_1m, rest_backfill_jobs CASCADE")

        pages = {"n": 0}

        def stop_after_five_pages() -> bool:
            pages["n"] += 1
            return pages["n"] > 5

        part = backfill(
            conn, client, kind="backfill", since=since, until=until, markets=codes, should_stop=stop_after_five_pages
        )
        assert part.interrupted and part.requests == 5
        assert 0 < len(_rest_rows(scratch_db)) < len(reference)
        assert unfinished_job(conn, ["backfill"]) == part.job_id
    finally:
        client.close()
        conn.close()
    env = dict(
        os.environ,
        TIMESCALEDB_DBNAME=scratch_db.timescaledb_dbname,
        TIMESCALEDB_MODE="off",
        UPBIT_REST_URL=history_server.rest_url,
        UPBIT_REST_REQUESTS_PER_SECOND="10",
    )
    done = subprocess.run(
        [sys.executable, "-m", "upbit_llm", "backfill", "--json"],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = orjson.loads(done.stdout)
    assert summary["resumed"] is True and summary["job_id"] == part.job_id
    assert summary["markets_done"] == 6 and summary["requests"] == whole.requests
    assert _rest_rows(scratch_db) == reference
    assert _rows(scratch_db, "SELECT status FROM rest_backfill_jobs") == [("done",)]


def test_a_429_storm_slows_a_backfill_down_without_failing_it(scratch_db: Settings) -> None:
    source = SimulatedSource(markets=4, seed=5, start_ms=START_MS, history_hours=2, duration_s=60)
    until = _utc(START_MS)
    since = until - timedelta(hours=2)
    calm = FakeUpbitServer(source, speed=None, rest_limits=RestLimits(per_second=50)).start_in_thread()
    codes = [m["market"] for m in source.catalog()]
    conn = psycopg2.connect(scratch_db.database_dsn())
    try:
        client = RestCandleClient(calm.rest_url, requests_per_second=40)
        started = time.monotonic()
        backfill(conn, client, kind="backfill", since=since, until=until, markets=codes)
        calm_seconds = time.monotonic() - started
        client.close()
        reference = _rest_rows(scratch_db)
        _rows(scratch_db, "TRUNCATE rest_candles_1m, rest_backfill_jobs CASCADE")
        # 14 rejections in a row: 429s, then a 418 block for a client that keeps going (Upbit's escalation).
        stormy = FakeUpbitServer(
            source, speed=None, rest_limits=RestLimits(per_second=50, storm_requests=14, ban_after_429s=10)
        ).start_in_thread()
        try:
            # Backoff capped at 1 s (production: 8 s) so the storm costs seconds, not minutes, in the test.
            client = RestCandleClient(stormy.rest_url, requests_per_second=40, max_attempts=30, max_backoff_seconds=1)
            started = time.monotonic()
            job = backfill(conn, client, kind="backfill", since=since, until=until, markets=codes)
            storm_seconds = time.monotonic() - started
            client.close()
        finally:
            stormy.stop()
    finally:
        calm.stop()
        conn.close()
    assert not job.interrupted and job.markets_done == 4
    assert client.stats.throttled >= 10 and client.stats.blocked >= 1
    assert _rest_rows(scratch_db) == reference
    assert storm_seconds > calm_seconds + 2.0  # backed off (and waited out the block) instead of hammering


# --- history from minute one -------------------------------------------------------------------------------------


def _reset_scan(settings: Settings) -> None:
    _rows(
        settings,
        "TRUNCATE anomalies, anomaly_buckets, anomaly_market_state, anomaly_scan_state, anomaly_flag_state CASCADE",
    )


def test_after_a_backfill_coin_briefs_have_1h_and_24h_figures_and_a_market_with_no_live_history_can_alert(
    scratch_db: Settings, kafka_bootstrap: str
) -> None:
    live_s = 240
    start_ms = int(time.time() * 1000) - (live_s + 60) * 1000
    plan = EventPlan(first_event_s=90, interval_s=10_000, trend_at_s=None, sequence=("pump",))
    source = SimulatedSource(
        markets=20, rate=60, seed=11, start_ms=start_ms, plan=plan, duration_s=live_s, history_hours=24
    )
    with Pipeline(scratch_db, kafka_bootstrap, source, speed=None) as pipe:
        pipe.wait_until_stored(timeout=120)
        pump = next(e for e in source.simulator.events if e.kind == "pump")
        # Live data only: four minutes are too few for a baseline, so the pump 90 s in cannot alert.
        assert run_scan(scratch_db, live=False).buckets_evaluated >= 20  # the pump's buckets were evaluated
        before = _rows(scratch_db, "SELECT market, kind FROM anomalies WHERE market = %s", (pump.market,))
        assert before == []
        conn = psycopg2.connect(scratch_db.database_dsn())
        try:
            assert coin_brief(conn, pump.market).change_1h_pct is None  # no hour of history yet
        finally:
            conn.close()

        started = time.monotonic()
        env = dict(
            os.environ,
            TIMESCALEDB_DBNAME=scratch_db.timescaledb_dbname,
            TIMESCALEDB_MODE="off",
            UPBIT_REST_URL=pipe.server.rest_url,
            UPBIT_QUOTES="KRW",
        )
        done = subprocess.run(
            [sys.executable, "-m", "upbit_llm", "backfill", "--since", "24h", "--json"],
            env=env, capture_output=True, text=True, timeout=300, cwd=ROOT,
        )  # fmt: skip
        seconds = time.monotonic() - started
        assert done.returncode == 0, done.stderr
        summary = orjson.loads(done.stdout)
        assert summary["markets_done"] == 20 and summary["throttled_429"] == 0
        assert seconds < 180  # "within minutes": 20 markets × 8 requests under Upbit's 10/s
        assert pipe.server.rest.stats.per_second_max <= 10

    conn = psycopg2.connect(scratch_db.database_dsn())
    try:
        brief = coin_brief(conn, pump.market)
        assert brief.change_1h_pct is not None
        assert brief.value_baseline_1h_fills_krw is not None and brief.value_baseline_1h_fills_krw > 0
        assert brief.value_vs_baseline is not None
        assert brief.freshness.rest_minutes > 23 * 60  # nearly every minute of the last 24 h came from REST
        assert "REST minutes" in brief.to_context()
        day = candles(conn, pump.market, "1h", limit=25)
        assert len(day.candles) >= 24 and sum(c.rest_minutes for c in day.candles) > 23 * 60
        conn.commit()
    finally:
        conn.close()
    # The same live data, now with REST history for the baseline: the pump alerts at once.
    _reset_scan(scratch_db)
    run_scan(scratch_db, live=False)
    after = _rows(
        scratch_db,
        "SELECT kind, started_at, severity, metrics FROM anomalies WHERE market = %s ORDER BY id",
        (pump.market,),
    )
    print(f"alert with a REST baseline: {pump.market} onset {_utc(pump.onset_ms)} {after}")
    assert after, "no alert on the pumped market with a REST baseline"
    assert after[0][0] in ("pump", "value_spike", "buy_burst", "price_jump")
    onset = _utc(pump.onset_ms)
    # started_at is the start of the detection window (up to 6 buckets = 60 s before the bucket that fired).
    assert onset - timedelta(seconds=60) <= after[0][1] <= onset + timedelta(seconds=90)
    # Nothing else fired on markets whose baseline is REST-only (no false alarms from the estimate).
    others = _rows(scratch_db, "SELECT market, kind FROM anomalies WHERE market NOT IN (%s, 'MARKET')", (pump.market,))
    assert others == []


def test_first_start_of_ingest_fetches_history_up_to_the_first_live_fill(
    scratch_db: Settings, kafka_bootstrap: str
) -> None:
    start_ms = int(time.time() * 1000) - 90_000
    source = SimulatedSource(
        markets=3, rate=20, seed=2, start_ms=start_ms, events=False, duration_s=60, history_hours=2
    )
    with Pipeline(scratch_db, kafka_bootstrap, source, speed=None, backfill_on_start_hours=2.0) as pipe:
        pipe.wait_until_stored(timeout=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and pipe.ingest.history_job is None:
            time.sleep(0.2)
        assert pipe.ingest.history_job is not None and pipe.ingest.history_job["markets_done"] == 3
    (first_fill,) = _rows(scratch_db, "SELECT min(time) FROM ticker_data")[0]
    rows = _rows(
        scratch_db,
        "SELECT code, min(bucket), max(bucket), count(*) FROM ohlcv_1m_combined WHERE source = 'rest' GROUP BY code",
    )
    assert len(rows) == 3
    for _code, oldest, newest, n in rows:
        assert oldest <= first_fill - timedelta(minutes=110)
        # REST fills the history right up to the first live minute: no hole before the first fill.
        assert newest >= first_fill.replace(second=0, microsecond=0) - timedelta(minutes=1)
        assert n > 100
    # A second start does not fetch again.
    (jobs,) = _rows(scratch_db, "SELECT count(*) FROM rest_backfill_jobs")[0]
    assert jobs == 1


# --- gap healing -------------------------------------------------------------------------------------------------


def test_a_two_minute_websocket_outage_is_healed_from_rest_and_equals_the_reference_candles(
    scratch_db: Settings, kafka_bootstrap: str
) -> None:
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - now_ms % MINUTE_MS - 8 * MINUTE_MS
    blackout = (start_ms + 3 * MINUTE_MS, start_ms + 5 * MINUTE_MS)  # two whole minutes, nobody receives them
    source = SimulatedSource(markets=10, rate=80, seed=4, start_ms=start_ms, events=False, duration_s=7 * 60)
    # A 60-s silence watchdog: the feed ends in seconds at full speed, and the 5-s test default would record a second
    # (silence) gap while the heal runs, hiding the healed one from the freshness line checked below.
    with Pipeline(
        scratch_db,
        kafka_bootstrap,
        source,
        speed=None,
        faults=Faults(blackout_ms=blackout),
        upbit_watchdog_seconds=60.0,
    ) as pipe:
        pipe.wait_until_stored(timeout=120)
        book = {code: pipe.server.book.minutes(code) for code in pipe.server.book.codes()}
        gaps = _rows(scratch_db, "SELECT id, gap_start, gap_end, reason FROM ingest_gaps")
        assert len(gaps) == 1 and "disconnect" in gaps[0][3]
        missing = _rows(
            scratch_db,
            "SELECT count(*) FROM ohlcv_1m WHERE bucket >= %s AND bucket < %s",
            (_utc(blackout[0]), _utc(blackout[1])),
        )
        assert missing == [(0,)]  # the outage left these minutes empty

        conn = psycopg2.connect(scratch_db.database_dsn())
        client = RestCandleClient(pipe.server.rest_url, requests_per_second=8)
        try:
            report = heal_gaps(conn, pipe.settings, client)
            again = heal_gaps(conn, pipe.settings, client)
        finally:
            client.close()
            conn.close()
    assert report.healed == [gaps[0][0]] and report.failed == []
    assert again.healed == [] and again.silent_found == 0  # healed once; the healed stretch is not re-found
    healed = _rows(
        scratch_db,
        "SELECT code, (extract(epoch FROM bucket) * 1000)::bigint, open, high, low, close, volume, value, source"
        " FROM ohlcv_1m_combined WHERE bucket >= %s AND bucket < %s ORDER BY 1, 2",
        (_utc(blackout[0]), _utc(blackout[1])),
    )
    reference = sorted(
        (code, minute, *c[:6])
        for code, minutes in book.items()
        for minute, c in minutes.items()
        if blackout[0] <= minute < blackout[1]
    )
    assert len(reference) >= 15
    assert [r[:2] for r in healed] == [r[:2] for r in reference]
    for got, want in zip(healed, reference, strict=True):
        assert got[8] == "rest"
        assert got[2:8] == pytest.approx(want[2:8], rel=1e-12)
    (status, minutes) = _rows(scratch_db, "SELECT heal_status, heal_minutes FROM ingest_gaps")[0]
    assert status == "healed" and minutes == len(reference)
    conn = psycopg2.connect(scratch_db.database_dsn())
    try:
        code = reference[0][0]
        one = candles(conn, code, "1m", limit=10)
        assert "healed from REST" in one.to_context()
        assert any(c.rest_minutes for c in one.candles)
        conn.commit()
    finally:
        conn.close()


def test_a_gap_older_than_upbit_keeps_is_recorded_not_healable(scratch_db: Settings) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    _rows(
        scratch_db,
        "INSERT INTO ingest_gaps (code, gap_start, gap_end, reason) VALUES (NULL, %s, %s, 'websocket disconnect')",
        (old, old + timedelta(minutes=3)),
    )
    conn = psycopg2.connect(scratch_db.database_dsn())
    client = RestCandleClient("http://127.0.0.1:9", requests_per_second=5)  # never called
    try:
        report = heal_gaps(conn, scratch_db, client)
    finally:
        client.close()
        conn.close()
    assert len(report.not_healable) == 1 and client.stats.requests == 0
    assert _rows(scratch_db, "SELECT heal_status FROM ingest_gaps") == [("not_healable",)]


# --- combination rules, both modes -------------------------------------------------------------------------------


def test_combined_history_uses_fills_where_stored_and_rest_only_elsewhere_the_same_in_both_modes(
    scratch_db_each_mode: Settings,
) -> None:
    from db.connection import connect
    from db.maintenance import refresh_aggregates
    from ingest.rest_candles import RestCandle, store_candles
    from tests.integration.test_schema import insert_fill

    settings = scratch_db_each_mode
    t0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    conn = connect(settings)
    with conn, conn.cursor() as cur:
        # Fills in minutes 0 and 2; REST candles for minutes 0..3 (minute 0 and 2 must not count twice).
        for minute, prices in ((0, (100.0, 104.0)), (2, (103.0, 101.0))):
            for i, price in enumerate(prices):
                insert_fill(cur, "KRW-BTC", t0 + timedelta(minutes=minute, seconds=10 + i), price, 1.0, acc_volume=i)
        store_candles(
            cur,
            [
                RestCandle("KRW-BTC", t0 + timedelta(minutes=m), 1.0 + m, 9.0 + m, 0.5, 2.0 + m, 5.0, 50.0, None)
                for m in range(4)
            ],
        )
    before = _rows(
        settings,
        "SELECT extract(epoch FROM bucket - %s)::int / 60, open, close, value, fills, source"
        " FROM ohlcv_1m_combined WHERE code = 'KRW-BTC' ORDER BY bucket",
        (t0,),
    )
    refresh_aggregates(conn)  # materialised or computed live: the same answer
    conn.close()
    after = _rows(
        settings,
        "SELECT extract(epoch FROM bucket - %s)::int / 60, open, close, value, fills, source"
        " FROM ohlcv_1m_combined WHERE code = 'KRW-BTC' ORDER BY bucket",
        (t0,),
    )
    assert (
        before
        == after
        == [
            (0, 100.0, 104.0, 204.0, 2, "fills"),
            (1, 2.0, 3.0, 50.0, None, "rest"),
            (2, 103.0, 101.0, 204.0, 2, "fills"),
            (3, 4.0, 5.0, 50.0, None, "rest"),
        ]
    )
    hour = _rows(settings, "SELECT open, close, value, fills FROM ohlcv_1h WHERE code = 'KRW-BTC'")
    assert hour == [(100.0, 5.0, 204.0 + 50.0 + 204.0 + 50.0, 4)]
    # Minutes that had fills when the candles came were not stored at all.
    assert _rows(settings, "SELECT extract(epoch FROM bucket - %s)::int / 60 FROM rest_candles_1m", (t0,)) == [
        (1,),
        (3,),
    ]
    # A late fill in minute 1: the fills win at once, and housekeeping deletes the superseded REST row (so it cannot
    # count twice after retention drops the raw fills).
    from db.maintenance import prune_superseded_rest_minutes

    conn = connect(settings)
    with conn, conn.cursor() as cur:
        insert_fill(cur, "KRW-BTC", t0 + timedelta(minutes=1, seconds=30), 102.0, 2.0, acc_volume=9)
    if settings.timescaledb_mode == "on":
        # A late fill below the continuous aggregate's watermark shows after the next refresh (the policy runs every
        # minute; docs/rest-history.md); plain mode shows it at once.
        refresh_aggregates(conn)
    sources = _rows(settings, "SELECT source FROM ohlcv_1m_combined WHERE code = 'KRW-BTC' ORDER BY bucket")
    assert sources == [("fills",), ("fills",), ("fills",), ("rest",)]
    assert prune_superseded_rest_minutes(conn) == 1
    conn.close()
    assert _rows(settings, "SELECT extract(epoch FROM bucket - %s)::int / 60 FROM rest_candles_1m", (t0,)) == [(3,)]
