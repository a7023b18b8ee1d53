"""The ingest and consume commands as processes: backfill from a file, SIGTERM flushes what Kafka buffered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import orjson
import psycopg2
import pytest

from fake_upbit.server import FakeUpbitServer
from fake_upbit.simulator import MarketSimulator
from fake_upbit.sources import SimulatedSource
from ingest.consumer import TickerConsumer
from upbit_core.settings import Settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START_MS = 1_767_243_600_000


def _settings(settings: Settings, kafka_bootstrap: str, **extra: object) -> Settings:
    tag = uuid.uuid4().hex[:10]
    values: dict[str, object] = {
        "kafka_servers": kafka_bootstrap,
        "kafka_topic": f"cli_{tag}",
        "kafka_dead_letter_topic": f"cli_dead_{tag}",
        "kafka_group_id": f"cli_{tag}",
        "kafka_max_poll_interval_ms": 6_000,
        **extra,
    }
    return settings.model_copy(update=values)


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "ENVIRONMENT": "test",
        "TIMESCALEDB_DBNAME": settings.timescaledb_dbname,
        "TIMESCALEDB_MODE": "off",
        "KAFKA_SERVERS": settings.kafka_servers,
        "KAFKA_TOPIC": settings.kafka_topic,
        "KAFKA_DEAD_LETTER_TOPIC": settings.kafka_dead_letter_topic,
        "UPBIT_WS_URL": settings.upbit_ws_url,
        "UPBIT_REST_URL": settings.upbit_rest_url,
    }


def _consume_until(settings: Settings, rows: int, dead: int = 0, timeout: float = 90) -> tuple[int, int]:
    consumer = TickerConsumer(settings, batch_timeout_s=0.2)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    counts = (0, 0)
    try:
        while time.monotonic() < deadline:
            conn = psycopg2.connect(settings.database_dsn())
            with conn.cursor() as cur:
                cur.execute("SELECT (SELECT count(*) FROM ticker_data), (SELECT count(*) FROM dead_letters)")
                counts = cur.fetchone()  # type: ignore[assignment]
            conn.close()
            if counts[0] >= rows and counts[1] >= dead:
                break
            time.sleep(0.2)
    finally:
        consumer.stop()
        thread.join(30)
    return counts


def test_ingest_from_file_publishes_valid_lines_and_dead_letters_bad_ones(
    scratch_db: Settings, kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = _settings(scratch_db, kafka_bootstrap)
    messages = list(MarketSimulator(markets=50, seed=12, start_ms=START_MS, rate=300).messages(10))
    path = tmp_path / "recorded.jsonl"
    lines = [orjson.dumps(m) for m in messages]
    lines.insert(5, b'{"type": "ticker", "code": "KRW-BTC", "trade_price": "lots"')
    path.write_bytes(b"\n".join(lines) + b"\n")
    done = subprocess.run(
        [sys.executable, "-m", "upbit_llm", "ingest", "--from-file", str(path)],
        cwd=ROOT,
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"published {len(messages)} message(s)" in done.stdout
    assert "100.0%" in done.stderr  # the progress bar reached the end
    rows, dead = _consume_until(settings, len(messages), 1)
    assert (rows, dead) == (len(messages), 1)
    conn = psycopg2.connect(settings.database_dsn())
    with conn.cursor() as cur:
        cur.execute("SELECT stage, reason FROM dead_letters")
        stage, reason = cur.fetchone()  # type: ignore[misc]
    conn.close()
    assert stage == "file" and reason.startswith("line 6: not valid JSON")


def test_sigterm_stops_ingest_after_flushing_every_message_it_read(scratch_db: Settings, kafka_bootstrap: str) -> None:
    source = SimulatedSource(markets=40, rate=300, seed=13, start_ms=START_MS, duration_s=3_600)
    server = FakeUpbitServer(source, speed=1.0).start_in_thread()
    try:
        settings = _settings(scratch_db, kafka_bootstrap, upbit_ws_url=server.ws_url, upbit_rest_url=server.rest_url)
        proc = subprocess.Popen(
            [sys.executable, "-m", "upbit_llm", "ingest", "--json", "--status-interval", "1"],
            cwd=ROOT,
            env=_env(settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.stats.sent < 1_000:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        server.stop()
    assert proc.returncode == 0, err[-2000:]
    summary = json.loads(out)
    assert summary["messages"] >= 1_000
    rows, _dead = _consume_until(settings, summary["messages"])
    assert rows == summary["messages"]
