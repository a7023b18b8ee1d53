"""Anomaly scans against a real database: replay determinism, exactly-once buckets, stale data, caution flags, CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from anomaly.evaluate import fetch_anomalies, score
from anomaly.scan import SCAN_LOCK_KEY, run_scan
from fake_upbit.simulator import EventPlan, MarketSimulator
from tests.conftest import make_scratch_db
from tests.support.anomaly_versions import scan_matches_pure_engine
from tests.support.rows import load_catalog, load_messages
from upbit_core.settings import Settings

START_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC
DURATION_S = 780
PLAN = EventPlan(first_event_s=420.0, interval_s=120.0, trend_at_s=360.0, sequence=("pump", "market_move", "dump"))


@pytest.fixture(scope="module")
def sim_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]], list[dict[str, Any]]]:
    """One simulated run written to a JSONL file (the "same file" replayed below), with its labels and catalog."""
    sim = MarketSimulator(markets=40, seed=7, start_ms=START_MS, rate=40.0, plan=PLAN)
    path = tmp_path_factory.mktemp("anomaly") / "run.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for msg in sim.messages(DURATION_S):
            fh.write(json.dumps(msg, ensure_ascii=False) + "\n")
    return path, sim.labels(), sim.catalog()


def _read(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def _exec(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(settings.database_dsn())
    with conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
    conn.close()
    return rows


def _replay_in_slices(settings: Settings, path: Path, every_s: int) -> int:
    """Load the file in event-time slices and scan after each (like a live beat), then flush. Returns scans run."""
    batch: list[dict[str, Any]] = []
    next_cut = START_MS + every_s * 1000
    scans = 0
    for msg in _read(path):
        if msg["trade_timestamp"] >= next_cut:
            load_messages(settings, batch)
            batch = []
            run_scan(settings, live=False)
            scans += 1
            next_cut += every_s * 1000
        batch.append(msg)
    load_messages(settings, batch)
    run_scan(settings, live=False)
    return scans + 1


def test_the_same_file_replayed_twice_into_fresh_databases_gives_identical_anomaly_lists(
    scratch_db: Settings, sim_file: tuple[Path, list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    path, labels, catalog = sim_file
    # Replay 1: everything loaded at once, one scan (a late scan catching up).
    load_catalog(scratch_db, catalog)
    load_messages(scratch_db, _read(path))
    first = run_scan(scratch_db, live=False)
    listed_1 = fetch_anomalies(scratch_db)
    # Replay 2: a fresh database, loaded slice by slice with a scan every 45 s of event time (a live-like pace).
    gen = make_scratch_db()
    second_db = next(gen)
    try:
        load_catalog(second_db, catalog)
        scans = _replay_in_slices(second_db, path, every_s=45)
        listed_2 = fetch_anomalies(second_db)
    finally:
        gen.close()
    assert scans > 10 and first.buckets_evaluated > 0
    assert listed_1, "the run contains a pump, a market-wide move and a dump"
    assert listed_1 == listed_2
    report = score(listed_1, labels, markets=40, duration_s=DURATION_S)
    assert report.caught == report.anomalous, report.as_dict()
    kinds = {a["market"]: a["kind"] for a in listed_1}
    assert kinds.get("MARKET") == "market_move"


def test_the_scan_stores_every_version_the_pure_engine_decides(
    scratch_db: Settings, sim_file: tuple[Path, list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    # The same fills through the scan (SQL buckets at the early-decision step, one transaction per chunk) and
    # through the pure engine: the same episodes, opened and escalated at the same event times to the same
    # severities — an early open and the same bucket's escalation included (each must land on its row).
    path, _, _ = sim_file
    stored = scan_matches_pure_engine(scratch_db, list(_read(path)))
    assert any(len(v) > 1 for _, _, _, v in stored), "some event must escalate, or this checks no escalation"
    assert any(t % 10_000 for _, _, _, v in stored for t, _ in v), "some version must be an early decision"


def test_a_scan_run_twice_evaluates_every_bucket_exactly_once(
    scratch_db: Settings, sim_file: tuple[Path, list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    path, _, _ = sim_file
    load_messages(scratch_db, _read(path))
    first = run_scan(scratch_db, live=False)
    count = len(fetch_anomalies(scratch_db))
    second = run_scan(scratch_db, live=False)
    assert first.buckets_evaluated == (DURATION_S - 5) // 10  # all but the lateness margin at the end
    assert second.buckets_evaluated == 0 and not second.opened and not second.escalated
    assert len(fetch_anomalies(scratch_db)) == count
    (watermark,) = _exec(scratch_db, "SELECT watermark FROM anomaly_scan_state")[0]
    assert watermark == first.watermark_to


def test_a_scan_while_another_holds_the_lock_is_skipped(scratch_db: Settings) -> None:
    conn = psycopg2.connect(scratch_db.database_dsn())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (SCAN_LOCK_KEY,))
        result = run_scan(scratch_db, live=False)
    finally:
        conn.close()
    assert result.skipped == "another scan is running" and result.buckets_evaluated == 0


def test_a_recorded_feed_gap_raises_one_data_stale_event_and_no_alert_inside_it(
    scratch_db: Settings, sim_file: tuple[Path, list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    path, labels, _ = sim_file
    pump = next(lab for lab in labels if lab["kind"] == "pump")
    gap_start = datetime.fromtimestamp(pump["onset_ms"] / 1000 - 30, tz=UTC)
    gap_end = datetime.fromtimestamp(pump["end_ms"] / 1000, tz=UTC)
    # The producer lost the socket over the whole pump: whatever arrived in that window cannot be trusted.
    _exec(
        scratch_db,
        "INSERT INTO ingest_gaps (code, gap_start, gap_end, reason) VALUES (NULL, %s, %s, 'websocket closed')",
        (gap_start, gap_end),
    )
    load_messages(scratch_db, _read(path))
    run_scan(scratch_db, live=False)
    events = fetch_anomalies(scratch_db)
    stale = [a for a in events if a["kind"] == "data_stale"]
    assert len(stale) == 1
    assert stale[0]["status"] == "resolved" and stale[0]["resolution"] == "data_resumed"
    inside = [a for a in events if a["kind"] != "data_stale" and gap_start <= a["detected_at"] <= gap_end]
    assert inside == []


def test_a_stopped_feed_raises_one_data_stale_event_across_scans_and_resolves_when_data_resumes(
    scratch_db: Settings, sim_file: tuple[Path, list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    path, _, _ = sim_file
    messages = list(_read(path))
    cut = START_MS + 400_000
    load_messages(scratch_db, [m for m in messages if m["trade_timestamp"] < cut])
    # Nothing has arrived for ten minutes (wall clock): the feed stopped.
    _exec(scratch_db, "UPDATE ticker_data SET ingested_at = now() - interval '10 minutes' RETURNING 1")
    first = run_scan(scratch_db, live=True)
    second = run_scan(scratch_db, live=True)
    stale = [a for a in fetch_anomalies(scratch_db) if a["kind"] == "data_stale"]
    assert first.stale and second.stale
    assert len(stale) == 1 and stale[0]["status"] == "open"
    assert stale[0]["metrics"]["reason"] == "feed_stopped"
    load_messages(scratch_db, [m for m in messages if m["trade_timestamp"] >= cut])
    run_scan(scratch_db, live=True)
    stale = [a for a in fetch_anomalies(scratch_db) if a["kind"] == "data_stale"]
    assert len(stale) == 1 and stale[0]["status"] == "resolved" and stale[0]["resolution"] == "data_resumed"


def test_caution_flag_changes_become_events_but_flags_present_at_the_first_scan_do_not(
    scratch_db: Settings, sim_file: tuple[Path, list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    path, _, catalog = sim_file
    load_catalog(scratch_db, catalog)
    load_messages(scratch_db, (m for m in _read(path) if m["trade_timestamp"] < START_MS + 120_000))
    run_scan(scratch_db, live=False)
    assert [a for a in fetch_anomalies(scratch_db) if a["kind"] == "caution_flag"] == []
    _exec(
        scratch_db,
        "UPDATE markets SET caution = caution || '{\"TRADING_VOLUME_SOARING\": true}'::jsonb, warning = false"
        " WHERE code = 'KRW-XRP' RETURNING 1",
    )
    run_scan(scratch_db, live=False)
    run_scan(scratch_db, live=False)
    flags = [a for a in fetch_anomalies(scratch_db) if a["kind"] == "caution_flag"]
    assert len(flags) == 1
    assert flags[0]["market"] == "KRW-XRP" and flags[0]["metrics"]["flags_set"] == ["TRADING_VOLUME_SOARING"]
    assert flags[0]["severity"] == "medium" and flags[0]["status"] == "open"
    _exec(scratch_db, "UPDATE markets SET caution = '{}'::jsonb WHERE code = 'KRW-XRP' RETURNING 1")
    run_scan(scratch_db, live=False)
    flags = [a for a in fetch_anomalies(scratch_db) if a["kind"] == "caution_flag"]
    assert len(flags) == 1 and flags[0]["status"] == "resolved" and flags[0]["resolution"] == "flag_cleared"


def test_scan_and_anomalies_commands_report_the_events(
    scratch_db: Settings,
    sim_file: tuple[Path, list[dict[str, Any]], list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from upbit_llm.cli import main

    path, _, catalog = sim_file
    load_catalog(scratch_db, catalog)
    load_messages(scratch_db, _read(path))
    _cli_env(monkeypatch, scratch_db)
    assert main(["scan", "--replay", "--json"]) == 0
    scan = json.loads(capsys.readouterr().out)
    assert scan["buckets_evaluated"] > 0 and scan["opened"]
    since = (datetime.fromtimestamp(START_MS / 1000, tz=UTC) - timedelta(minutes=1)).isoformat()
    assert main(["anomalies", "--since", since, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {row["id"] for row in listed} >= set(scan["opened"])
    row = listed[0]
    assert set(row) >= {"id", "market", "kind", "severity", "status", "started_at", "detected_at", "metrics"}
    assert "interpretation" in row
    assert main(["anomalies", "--since", since]) == 0
    table = capsys.readouterr().out
    assert "market_move" in table and "detected_at" in table
    assert main(["anomalies", "--since", "yesterday-ish"]) == 2
    assert "not an ISO timestamp" in capsys.readouterr().err


def test_the_scan_gives_the_same_anomalies_in_timescaledb_mode(
    scratch_db: Settings,
    scratch_db_timescale: Settings,
    sim_file: tuple[Path, list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    path, _, catalog = sim_file
    for db in (scratch_db, scratch_db_timescale):
        load_catalog(db, catalog)
        load_messages(db, _read(path))
        run_scan(db, live=False)
    assert fetch_anomalies(scratch_db_timescale) == fetch_anomalies(scratch_db)


def test_a_scan_over_hours_of_history_prints_progress_per_hour_on_stderr(
    scratch_db: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from upbit_llm.cli import main

    # 3.2 hours of a few quiet markets: a catch-up scan of four chunks (an hour of event time each).
    sim = MarketSimulator(markets=6, seed=3, start_ms=START_MS, rate=2.0, events=False)
    load_messages(scratch_db, sim.messages(3.2 * 3600))
    _cli_env(monkeypatch, scratch_db)
    assert main(["scan", "--replay"]) == 0
    out = capsys.readouterr()
    lines = [line for line in out.err.splitlines() if line.startswith("scan: ")]
    assert len(lines) == 3, out.err  # after hours 1, 2 and 3; the last chunk is the summary on stdout
    assert "2026-01-01 01:00 UTC of 2026-01-01 03:" in lines[0] and "%" in lines[0] and "s left" in lines[0]
    assert "scanned 1151 bucket(s)" in out.out, out.out  # 3.2 h, less the 2-s lateness at the end
    # A live-sized scan (nothing new, then a few seconds) prints no progress.
    assert main(["scan", "--replay"]) == 0
    assert "scan: " not in capsys.readouterr().err


def _cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """Point the `upbit-llm` CLI (run in-process) at the test's database."""
    for key, value in {
        "TIMESCALEDB_DBNAME": settings.timescaledb_dbname,
        "TIMESCALEDB_HOST": settings.timescaledb_host,
        "TIMESCALEDB_PORT": str(settings.timescaledb_port),
        "TIMESCALEDB_USER": settings.timescaledb_user,
        "ENVIRONMENT": "test",
    }.items():
        monkeypatch.setenv(key, value)
