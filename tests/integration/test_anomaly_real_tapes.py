"""Scans over real trade tapes (Binance trades around labelled Telegram pumps, bench/pump_tapes.py) in a real
database: full-history replay in slices and at once, BTC- and USDT-quoted pumps, one partition's fills arriving late."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg2

from anomaly.evaluate import alert_events, fetch_anomalies
from anomaly.scan import ScanOptions, run_scan
from bench.pump_tapes import KRW_PER_BTC, USDT_PER_BTC, Tape, tape_messages, tapes
from tests.support.anomaly_versions import scan_matches_pure_engine
from tests.support.rows import load_messages
from upbit_core.settings import Settings
from upbit_core.severity import severity_rank

BUCKET_MS = 10_000


def _tape(name: str) -> Tape:
    return next(t for t in tapes() if t.name.startswith(name))


def _steady(code: str, price: float, start_ms: int, end_ms: int, every_ms: int = 1000) -> Iterator[dict[str, Any]]:
    """A quiet, liquid market (the rate markets KRW-BTC / KRW-USDT, or another partition's market)."""
    for i, ms in enumerate(range(start_ms, end_ms, every_ms)):
        yield {
            "type": "ticker",
            "code": code,
            "trade_price": price,
            "trade_volume": 0.001 + (i % 7) * 1e-4,
            "acc_trade_volume": 1.0 + i,
            "trade_timestamp": ms,
            "ask_bid": "BID" if i % 2 else "ASK",
            "trade_date": "20200101",
            "trade_time": "000000",
            "stream_type": "REALTIME",
        }


def _window(msgs: Iterator[dict[str, Any]], lo: int, hi: int) -> list[dict[str, Any]]:
    return [m for m in msgs if lo <= m["trade_timestamp"] < hi]


def _first_alert_ms(anomalies: list[dict[str, Any]], market: str, onset_ms: int) -> int | None:
    times = [
        t
        for a in anomalies
        if a["market"] == market and a["kind"] in ("pump", "value_spike", "buy_burst", "price_jump")
        for t, _ in alert_events(a)
        if onset_ms - 60_000 <= t <= onset_ms + 300_000
    ]
    return min(times) if times else None


def test_a_multi_day_real_tape_replayed_in_slices_and_at_once_gives_identical_events_and_scans_all_history(
    scratch_db: Settings,
) -> None:
    # Two real tapes back to back (20 h each, two markets): a 40-hour file, the second pump a day after the first.
    a, b = _tape("APPC@2020"), _tape("MDA@2020")
    shift_b = a.end_ms + 60_000 - b.start_ms
    msgs = sorted(
        [*tape_messages(a), *tape_messages(b, shift_ms=shift_b)], key=lambda m: (m["trade_timestamp"], m["code"])
    )
    first_bucket = msgs[0]["trade_timestamp"] // BUCKET_MS * BUCKET_MS
    last_ms = msgs[-1]["trade_timestamp"]
    assert (last_ms - first_bucket) / 86_400_000 > 1.6  # multi-day

    # At once: one load, one scan — it starts at the earliest data, not 2 h before the newest.
    load_messages(scratch_db, msgs)
    whole = run_scan(scratch_db, live=False)
    assert whole.watermark_from is not None and int(whole.watermark_from.timestamp() * 1000) == first_bucket
    assert whole.buckets_evaluated == (last_ms - 5_000) // BUCKET_MS - first_bucket // BUCKET_MS
    at_once = fetch_anomalies(scratch_db)

    # In slices of 8 hours of event time with a scan after each, into a fresh database.
    from tests.conftest import make_scratch_db

    gen = make_scratch_db()
    fresh = next(gen)
    try:
        evaluated = 0
        cut = first_bucket + 8 * 3_600_000
        batch: list[dict[str, Any]] = []
        for m in msgs:
            if m["trade_timestamp"] >= cut:
                load_messages(fresh, batch)
                batch = []
                evaluated += run_scan(fresh, live=False).buckets_evaluated
                cut += 8 * 3_600_000
            batch.append(m)
        load_messages(fresh, batch)
        evaluated += run_scan(fresh, live=False).buckets_evaluated
        sliced = fetch_anomalies(fresh)
    finally:
        next(gen, None)
    assert evaluated == whole.buckets_evaluated  # every bucket once, none skipped between slices
    assert at_once == sliced
    # Both labelled pumps are in the events, each alerted within a minute of its onset.
    for market, onset in (("KRW-APPC", a.onset_ms), ("KRW-MDA", b.onset_ms + shift_b)):
        first = _first_alert_ms(at_once, market, onset)
        assert first is not None and first - onset <= 60_000, market


def test_btc_and_usdt_quoted_pumps_are_detected_with_krw_money_thresholds(scratch_db: Settings) -> None:
    # The same kind of real pump as a BTC-quoted and a USDT-quoted market; KRW-BTC / KRW-USDT give the KRW rate.
    btc, usdt = _tape("RDN@2020"), _tape("POA@2020")
    shift = btc.onset_ms - usdt.onset_ms  # both pumps at the same minute, in one timeline
    lo, hi = btc.onset_ms - 2 * 3_600_000, btc.onset_ms + 300_000
    msgs = [
        *_window(tape_messages(btc, quote="BTC"), lo, hi),
        *_window(tape_messages(usdt, quote="USDT", shift_ms=shift), lo, hi),
        *_steady("KRW-BTC", KRW_PER_BTC, lo, hi, every_ms=5_000),
        *_steady("KRW-USDT", KRW_PER_BTC / USDT_PER_BTC, lo, hi, every_ms=5_000),
    ]
    msgs.sort(key=lambda m: (m["trade_timestamp"], m["code"]))
    load_messages(scratch_db, msgs)
    run_scan(scratch_db, live=False)
    anomalies = fetch_anomalies(scratch_db)
    for market in ("BTC-RDN", "USDT-POA"):
        first = _first_alert_ms(anomalies, market, btc.onset_ms)
        assert first is not None and first - btc.onset_ms <= 60_000, market
        pump = next(a for a in anomalies if a["market"] == market and a["kind"] == "pump")
        # value_krw is KRW (quote value × the KRW rate), so the KRW money thresholds applied
        assert pump["metrics"]["value_krw"] >= 3_000_000


def test_one_partitions_fills_arriving_30_s_late_still_get_their_pump_detected(scratch_db: Settings) -> None:
    # KRW-QLC's partition lags 30 s behind KRW-FILL's: a live beat scans every 15 s of event time, so every QLC
    # bucket has been scanned (5 s lateness margin) before its fills arrive.
    tape = _tape("QLC@2020")
    onset = tape.onset_ms
    lo, live_from, hi = onset - 3_600_000, onset - 120_000, onset + 240_000
    pump = _window(tape_messages(tape), lo, hi)
    other = list(_steady("KRW-FILL", 1000.0, lo, hi + 60_000, every_ms=500))
    load_messages(scratch_db, [m for m in pump + other if m["trade_timestamp"] < live_from - 30_000])
    run_scan(scratch_db, live=False)
    lag = 30_000
    cut = live_from
    while cut < hi + 60_000:
        nxt = cut + 15_000
        arriving = [m for m in other if cut <= m["trade_timestamp"] < nxt]
        arriving += [m for m in pump if cut - lag <= m["trade_timestamp"] + 0 < nxt - lag]
        load_messages(scratch_db, arriving)
        run_scan(scratch_db, live=False)
        cut = nxt
    anomalies = fetch_anomalies(scratch_db)
    first = _first_alert_ms(anomalies, "KRW-QLC", onset)
    assert first is not None and first - onset <= 60_000


def test_a_live_scan_every_2_s_decides_inside_the_unfinished_bucket_as_a_replay_at_once_does(
    scratch_db: Settings,
) -> None:
    # A real pump (QLC) fed 2 s of event time at a time with a scan after each (the shipped scan pace): the first
    # Slack-worthy version is decided at an early point inside its bucket — before the bucket ends — and the events
    # equal those of the same fills loaded and scanned at once.
    tape = _tape("QLC@2020")
    onset = tape.onset_ms
    lo, live_from, hi = onset - 3_600_000, onset - 60_000, onset + 120_000
    msgs = sorted(_window(tape_messages(tape), lo, hi), key=lambda m: (m["trade_timestamp"], m["code"]))
    options = ScanOptions(lateness_seconds=2)
    load_messages(scratch_db, [m for m in msgs if m["trade_timestamp"] < live_from])
    run_scan(scratch_db, live=False, options=options)
    cut = live_from
    while cut < hi:
        load_messages(scratch_db, [m for m in msgs if cut <= m["trade_timestamp"] < cut + 2_000])
        run_scan(scratch_db, live=False, options=options)
        cut += 2_000
    live = fetch_anomalies(scratch_db)

    from tests.conftest import make_scratch_db

    gen = make_scratch_db()
    fresh = next(gen)
    try:
        load_messages(fresh, msgs)
        run_scan(fresh, live=False, options=options)
        at_once = fetch_anomalies(fresh)
    finally:
        next(gen, None)
    assert live == at_once
    loud = sorted(
        t
        for a in live
        if a["market"] == "KRW-QLC"
        for t, sev in alert_events(a)
        if severity_rank(sev) >= severity_rank("medium") and t >= onset - 60_000
    )
    assert loud, "the pump must reach Slack (medium+)"
    assert loud[0] % BUCKET_MS != 0  # an early point inside a bucket, not a bucket end
    assert loud[0] - onset <= 20_000


def test_an_early_open_and_its_escalation_in_the_same_bucket_are_both_stored(scratch_db: Settings) -> None:
    # Real ARN pump: the engine opens it at an early point (high) and escalates it 2 s later in the same bucket
    # (critical). Both versions must land on the stored row, as the pure engine decides them.
    tape = _tape("ARN@2020")
    msgs = sorted(
        _window(tape_messages(tape), tape.onset_ms - 3_600_000, tape.onset_ms + 300_000),
        key=lambda m: (m["trade_timestamp"], m["code"]),
    )
    stored = scan_matches_pure_engine(scratch_db, msgs)
    pump = [v for market, _, _, v in stored if market == "KRW-ARN" and len(v) > 1]
    assert pump and (pump[0][1][0] - 1) // BUCKET_MS == (pump[0][0][0] - 1) // BUCKET_MS, pump
    assert pump[0][1][1] == "critical"


def test_late_fills_behind_a_stopped_feed_are_evaluated_once_the_last_late_check_is_a_bucket_old(
    scratch_db: Settings,
) -> None:
    # A scan that only peeks at the unfinished bucket skips the late-fill check while the last check is under a
    # bucket (10 s) old. Here KRW-QLC's fills (a real pump) reach the database after the watermark passed them and
    # the feed then stops, so every later scan only peeks: the check must still run once the last one is 10 s old
    # (aged here by moving its mark back 11 s instead of sleeping), and the pump must then be found.
    tape = _tape("QLC@2020")
    onset = tape.onset_ms
    lo, hi = onset - 3_600_000, onset + 120_000
    pump = _window(tape_messages(tape), lo, hi)
    other = list(_steady("KRW-FILL", 1000.0, lo, onset + 180_000, every_ms=500))
    load_messages(scratch_db, [m for m in pump if m["trade_timestamp"] < onset - 60_000] + other)
    run_scan(scratch_db, live=False)
    load_messages(scratch_db, [m for m in pump if m["trade_timestamp"] >= onset - 60_000])  # the lagging partition
    quiet = run_scan(scratch_db, live=False)
    assert quiet.rescanned_from is None and quiet.buckets_evaluated == 0  # checked < 10 s ago: not yet
    assert _first_alert_ms(fetch_anomalies(scratch_db), "KRW-QLC", onset) is None
    conn = psycopg2.connect(scratch_db.database_dsn())
    with conn, conn.cursor() as cur:
        cur.execute(
            "UPDATE anomaly_scan_state SET state = jsonb_set(state, '{ingest_mark}',"
            " to_jsonb((state->>'ingest_mark')::timestamptz - interval '11 s'))"
        )
    conn.close()
    late = run_scan(scratch_db, live=False)
    assert late.rescanned_from is not None and late.rescanned_from.timestamp() * 1000 <= onset - 60_000
    first = _first_alert_ms(fetch_anomalies(scratch_db), "KRW-QLC", onset)
    assert first is not None and first - onset <= 60_000
