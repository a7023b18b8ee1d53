"""The WebSocket side under faults, with the real `upbit-llm ingest` and `upbit-llm consume` processes against the
Upbit-protocol server: ten dropped connections (reconnects, gaps, nothing sent lost) and 10K malformed frames
(no crash, one dead letter each)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from fake_upbit.server import FakeUpbitServer, Faults
from fake_upbit.sources import SimulatedSource
from ingest.ticker import message_id
from tests.faults.conftest import FaultReport
from tests.faults.helpers import cli_env, scalar, start_cli, stop_process, stored_ids, unique
from upbit_core.settings import Settings

START_MS = 1_767_243_600_000  # 2026-01-01 05:00 UTC


def _run_stream(
    settings: Settings, kafka_bootstrap: str, tmp_path: Path, source: SimulatedSource, faults: Faults, dead: int
) -> tuple[FakeUpbitServer, dict[str, int], list[int | None]]:
    server = FakeUpbitServer(source, speed=None, faults=faults, record_sent=True).start_in_thread()
    env = cli_env(
        settings,
        KAFKA_SERVERS=kafka_bootstrap,
        KAFKA_TOPIC=unique("faults_stream"),
        KAFKA_DEAD_LETTER_TOPIC=unique("faults_stream_dead"),
        KAFKA_GROUP_ID=unique("faults_stream_writer"),
        KAFKA_MAX_POLL_INTERVAL_MS="6000",
        UPBIT_WS_URL=server.ws_url,
        UPBIT_REST_URL=server.rest_url,
        UPBIT_WATCHDOG_SECONDS="5",
        UPBIT_PING_SECONDS="2",
    )
    procs: list[subprocess.Popen[bytes]] = []
    exits_early: list[int | None] = []
    try:
        procs.append(start_cli(["consume", "--status-interval", "2"], env, tmp_path / "consume.log"))
        procs.append(start_cli(["ingest", "--status-interval", "2"], env, tmp_path / "ingest.log"))
        deadline = time.monotonic() + 240
        counts = {"rows": 0, "dead": 0, "gaps": 0}
        while time.monotonic() < deadline:
            counts = {
                "rows": int(scalar(settings, "SELECT count(*) FROM ticker_data")),
                "dead": int(scalar(settings, "SELECT count(*) FROM dead_letters")),
                "gaps": int(scalar(settings, "SELECT count(*) FROM ingest_gaps")),
            }
            if server.feed_done and counts["rows"] >= server.stats.sent and counts["dead"] >= dead:
                time.sleep(1.0)  # a late duplicate or dead letter would land now
                break
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(0.5)
        exits_early = [p.poll() for p in procs]
    finally:
        for p in procs:
            stop_process(p)
        server.stop()
    counts = {
        "rows": int(scalar(settings, "SELECT count(*) FROM ticker_data")),
        "dead": int(scalar(settings, "SELECT count(*) FROM dead_letters")),
        "gaps": int(scalar(settings, "SELECT count(*) FROM ingest_gaps")),
    }
    return server, counts, exits_early


def test_ten_websocket_drops_reconnect_record_gaps_and_lose_nothing_sent(
    scratch_db: Settings, kafka_bootstrap: str, tmp_path: Path, fault_report: FaultReport
) -> None:
    scenario = "WebSocket drops x10"
    source = SimulatedSource(markets=160, rate=300, seed=41, start_ms=START_MS, duration_s=40, events=False)
    server, counts, early = _run_stream(
        scratch_db, kafka_bootstrap, tmp_path, source, Faults(drop_every=1_000, max_drops=10), dead=0
    )
    reconnects = server.stats.connections - 1
    sent = {message_id(m) for m in server.sent_messages}
    ids, rows = stored_ids(scratch_db)
    lost = len(sent - ids)
    crashes = sum(1 for code in early if code is not None)
    fault_report.record(scenario, "drops", server.stats.drops, "10", server.stats.drops == 10)
    fault_report.record(scenario, "reconnects", reconnects, ">= 10", reconnects >= 10)
    fault_report.record(scenario, "gaps recorded", counts["gaps"], "10", counts["gaps"] == 10)
    fault_report.record(scenario, "messages sent but not stored", lost, "0", lost == 0)
    fault_report.record(scenario, "crashes", crashes, "0", crashes == 0)
    assert crashes == 0, (tmp_path / "ingest.log").read_text()[-3000:]
    assert server.stats.drops == 10 and reconnects >= 10
    assert counts["gaps"] == 10
    assert lost == 0 and rows == len(ids)


def test_ten_thousand_malformed_frames_crash_nothing_and_each_becomes_a_dead_letter(
    scratch_db: Settings, kafka_bootstrap: str, tmp_path: Path, fault_report: FaultReport
) -> None:
    scenario = "10K malformed frames"
    source = SimulatedSource(markets=160, rate=400, seed=42, start_ms=START_MS, duration_s=30, events=False)
    server, counts, early = _run_stream(
        scratch_db, kafka_bootstrap, tmp_path, source, Faults(garbage_every=1, max_garbage=10_000), dead=10_000
    )
    crashes = sum(1 for code in early if code is not None)
    lost = server.stats.sent - counts["rows"]
    fault_report.record(scenario, "garbage frames sent", server.stats.garbage, "10000", server.stats.garbage == 10_000)
    fault_report.record(scenario, "crashes", crashes, "0", crashes == 0)
    fault_report.record(scenario, "dead letters", counts["dead"], "10000", counts["dead"] == 10_000)
    fault_report.record(scenario, "good messages lost", lost, "0", lost == 0)
    assert crashes == 0, (tmp_path / "ingest.log").read_text()[-3000:]
    assert counts["dead"] == 10_000
    assert lost == 0
    hostile = scalar(scratch_db, "SELECT count(*) FROM ticker_data WHERE code ILIKE %s", ("%drop table%",))
    assert hostile == 0
