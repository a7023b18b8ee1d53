"""The whole ingest path over real connections: fake-upbit WebSocket → producer → Kafka (Tansu) → consumer → DB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from fake_upbit.server import Faults
from fake_upbit.simulator import MarketSimulator
from fake_upbit.sources import FileSource, SimulatedSource
from ingest.ticker import FIELDS, message_id
from tests.support.pipeline import Pipeline, fill_via_pipeline
from tests.support.rows import query_rows
from upbit_core.settings import Settings

pytestmark = pytest.mark.integration

START_MS = 1_767_243_600_000  # 2026-01-01 05:00 UTC


def _recorded_stream(path: Path) -> list[dict[str, Any]]:
    """20 s of simulated traffic plus a hand-made burst: 13 fills of KRW-PEPE in one millisecond with
    cumulative volumes above 1e12 and a price of 1e-3 KRW."""
    messages = list(MarketSimulator(markets=160, seed=11, start_ms=START_MS, rate=300).messages(20))
    template = next(m for m in messages if m["code"] == "KRW-PEPE")
    burst = [
        dict(
            template,
            trade_timestamp=START_MS + 20_500,
            timestamp=START_MS + 20_520,
            trade_price=0.001 + i * 0.000001,
            trade_volume=1.5e9 + i,
            acc_trade_volume=4.2e12 + i * 1.5e9,
            acc_trade_volume_24h=9.9e12 + i * 1.5e9,
            acc_trade_price=1.2e13 + i,
            ask_bid="BID",
        )
        for i in range(13)
    ]
    messages.extend(burst)
    path.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in messages))
    return messages


def test_recorded_stream_with_same_millisecond_fills_and_huge_values_is_stored_exactly_once(
    scratch_db: Settings, kafka_bootstrap: str, tmp_path: Path
) -> None:
    recorded = _recorded_stream(tmp_path / "recorded.jsonl")
    with Pipeline(scratch_db, kafka_bootstrap, FileSource(tmp_path / "recorded.jsonl"), speed=None) as pipe:
        rows, dead, _gaps = pipe.wait_until_stored()
    assert pipe.server.stats.sent == len(recorded)
    assert (rows, dead) == (len(recorded), 0)

    columns = ", ".join(f'"{f}"' for f in FIELDS if not f.endswith("_date")) + ", trade_date"
    stored = {
        str(r[0]): r[1:]
        for r in query_rows(scratch_db, f"SELECT msg_id, {columns} FROM ticker_data")  # noqa: S608 (constant list)
    }
    assert len(stored) == len(recorded)
    names = [f for f in FIELDS if not f.endswith("_date")] + ["trade_date"]
    for message in recorded:
        row = stored[str(message_id(message))]
        assert dict(zip(names, row, strict=True)) == {name: message[name] for name in names}
    same_ms = query_rows(
        scratch_db,
        "SELECT count(*), min(acc_trade_volume) FROM ticker_data WHERE code = 'KRW-PEPE' AND trade_timestamp = %s",
        (START_MS + 20_500,),
    )
    assert same_ms == [(13, 4.2e12)]


def test_ten_dropped_connections_are_reconnected_recorded_as_gaps_and_lose_nothing_sent(
    scratch_db: Settings, kafka_bootstrap: str
) -> None:
    source = SimulatedSource(markets=160, rate=300, seed=5, start_ms=START_MS, duration_s=40)
    faults = Faults(drop_every=1_000, max_drops=10)
    with Pipeline(scratch_db, kafka_bootstrap, source, speed=None, faults=faults) as pipe:
        rows, dead, gaps = pipe.wait_until_stored()
        reconnects = pipe.ingest.stream.stats.reconnects
    assert pipe.server.stats.drops == 10
    assert reconnects >= 10
    assert pipe.server.stats.origin_headers == 0  # Upbit throttles requests that carry an Origin header
    assert gaps == 10
    assert dead == 0
    sent_ids = {str(message_id(m)) for m in pipe.server.sent_messages}
    stored_ids = {str(r[0]) for r in query_rows(scratch_db, "SELECT msg_id FROM ticker_data")}
    assert rows == len(sent_ids) == len(stored_ids)
    assert stored_ids == sent_ids
    for start, end, reason in query_rows(scratch_db, "SELECT gap_start, gap_end, reason FROM ingest_gaps"):
        assert end is not None and end >= start
        assert reason.startswith("websocket disconnect")


def test_ten_thousand_malformed_frames_become_dead_letters_with_reasons_and_the_stream_goes_on(
    scratch_db: Settings, kafka_bootstrap: str
) -> None:
    source = SimulatedSource(markets=160, rate=400, seed=6, start_ms=START_MS, duration_s=30)
    faults = Faults(garbage_every=1, max_garbage=10_000)
    with Pipeline(scratch_db, kafka_bootstrap, source, speed=None, faults=faults) as pipe:
        rows, dead, _gaps = pipe.wait_until_stored(expected_dead=10_000, timeout=180)
    assert pipe.server.stats.garbage == 10_000
    assert rows == pipe.server.stats.sent
    assert dead == 10_000
    reasons = dict(query_rows(scratch_db, "SELECT stage, count(*) FROM dead_letters WHERE reason <> '' GROUP BY stage"))
    assert reasons == {"ws": 10_000}
    samples = [r[0] for r in query_rows(scratch_db, "SELECT DISTINCT reason FROM dead_letters")]
    assert any(s.startswith("not valid JSON") for s in samples)
    assert any("trade_price is not a number" in s for s in samples)
    assert any("is not a market code" in s for s in samples)
    assert query_rows(scratch_db, "SELECT count(*) FROM ticker_data WHERE code ILIKE '%drop table%'") == [(0,)]


def test_a_silent_connection_is_recycled_by_the_watchdog_and_recorded_as_a_gap(
    scratch_db: Settings, kafka_bootstrap: str
) -> None:
    source = SimulatedSource(markets=50, rate=200, seed=7, start_ms=START_MS, duration_s=15)
    faults = Faults(stall_after=500)
    with Pipeline(scratch_db, kafka_bootstrap, source, speed=None, faults=faults, upbit_watchdog_seconds=1.5) as pipe:
        rows, _dead, _gaps = pipe.wait_until_stored()
        # ≥ 1: once the finite feed has ended, the idle socket is (rightly) recycled again.
        assert pipe.ingest.stream.stats.watchdog_recycles >= 1
    assert pipe.server.stats.stalls == 1
    assert rows == pipe.server.stats.sent
    closed = query_rows(scratch_db, "SELECT reason FROM ingest_gaps WHERE gap_end IS NOT NULL")
    assert len(closed) == 1
    assert "no data for" in closed[0][0]


def test_fill_via_pipeline_fills_catalog_ticks_and_latest_prices(scratch_db: Settings, kafka_bootstrap: str) -> None:
    summary = fill_via_pipeline(scratch_db, kafka_bootstrap, markets=160, duration_s=30, seed=2)
    assert summary.sent == summary.stored > 1_000
    assert summary.dead_letters == 0
    assert query_rows(scratch_db, "SELECT count(*) FROM markets WHERE listed") == [(160,)]
    assert query_rows(scratch_db, "SELECT korean_name FROM markets WHERE code = 'KRW-W'") == [("웜홀",)]
    assert query_rows(scratch_db, "SELECT count(*) FROM ticker_latest")[0][0] > 100
