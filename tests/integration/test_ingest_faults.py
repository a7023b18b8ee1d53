"""Consumer durability: killed with SIGKILL mid-run, PostgreSQL restarted mid-run — every message stored once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from fake_upbit.simulator import MarketSimulator
from ingest.consumer import TickerConsumer
from ingest.producer import TickerProducer, ensure_topics
from ingest.ticker import message_id
from tests.support.private_postgres import PrivatePostgres, migrated_private_database
from upbit_core.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 100_000


def _kafka_settings(settings: Settings, kafka_bootstrap: str, poll_ms: int = 6_000) -> Settings:
    """Own topics and group; a short poll interval/session so a restarted consumer rejoins the group quickly."""
    tag = uuid.uuid4().hex[:10]
    return settings.model_copy(
        update={
            "kafka_servers": kafka_bootstrap,
            "kafka_topic": f"faults_{tag}",
            "kafka_dead_letter_topic": f"faults_dead_{tag}",
            "kafka_group_id": f"faults_{tag}",
            "kafka_max_poll_interval_ms": poll_ms,
        }
    )


def _publish(settings: Settings, count: int, seed: int) -> set[str]:
    """Publish `count` simulated messages; returns their message ids."""
    ensure_topics(settings)
    producer = TickerProducer(settings, linger_ms=20)
    ids: set[str] = set()
    sim = MarketSimulator(markets=160, seed=seed, start_ms=1_767_243_600_000, rate=2_000)
    for message in sim.messages(3_600):
        producer.send_ticker(message, message["timestamp"])
        ids.add(str(message_id(message)))
        if len(ids) >= count:
            break
    producer.close()
    assert producer.acked == count
    return ids


def _count(settings: Settings) -> int | None:
    try:
        conn = psycopg2.connect(settings.database_dsn(), connect_timeout=2)
    except psycopg2.OperationalError:
        return None  # server restarting
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM ticker_data")
            row = cur.fetchone()
            return int(row[0]) if row else 0
    except psycopg2.Error:
        return None
    finally:
        conn.close()


def _stored_ids(settings: Settings) -> list[str]:
    conn = psycopg2.connect(settings.database_dsn())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT msg_id::text FROM ticker_data")
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def _consumer_process(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "TIMESCALEDB_DBNAME": settings.timescaledb_dbname,
        "TIMESCALEDB_HOST": settings.timescaledb_host,
        "TIMESCALEDB_PORT": str(settings.timescaledb_port),
        "TIMESCALEDB_MODE": "off",
        "KAFKA_SERVERS": settings.kafka_servers,
        "KAFKA_TOPIC": settings.kafka_topic,
        "KAFKA_DEAD_LETTER_TOPIC": settings.kafka_dead_letter_topic,
        "KAFKA_GROUP_ID": settings.kafka_group_id,
        "KAFKA_MAX_POLL_INTERVAL_MS": str(settings.kafka_max_poll_interval_ms),
    }
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "upbit_llm", "consume", "--batch-size", "5000", "--status-interval", "1"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def test_consumer_killed_five_times_mid_run_still_stores_every_message_exactly_once(
    scratch_db: Settings, kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = _kafka_settings(scratch_db, kafka_bootstrap, poll_ms=3_000)
    expected = _publish(settings, TOTAL, seed=21)
    rng = random.Random(7)
    log_path = tmp_path / "consumer.log"
    kills = 0
    for k in range(5):
        # Kill points spread over the run, at random row counts, so every kill lands mid-stream.
        threshold = int(TOTAL * (k + 1) / 6.5) + rng.randint(0, 4_000)
        proc = _consumer_process(settings, log_path)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and (_count(settings) or 0) < threshold:
                assert proc.poll() is None, f"consumer exited early:\n{log_path.read_text()[-3000:]}"
                time.sleep(0.02)
            assert (_count(settings) or 0) >= threshold, f"no progress:\n{log_path.read_text()[-3000:]}"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        kills += 1
        assert (_count(settings) or 0) < TOTAL, "the run finished before the kill; kill points are too late"
    final = _consumer_process(settings, log_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (_count(settings) or 0) < TOTAL:
            time.sleep(0.2)
    finally:
        final.send_signal(signal.SIGTERM)
        assert final.wait(60) == 0, log_path.read_text()[-3000:]
    stored = _stored_ids(settings)
    assert kills == 5
    assert len(stored) == TOTAL
    assert set(stored) == expected


@pytest.fixture
def private_db(scratch_db: Settings) -> Iterator[tuple[PrivatePostgres, Settings]]:
    """A migrated database on a private PostgreSQL cluster this test may restart (never the shared 5432 one, which
    other suites on the machine use)."""
    with migrated_private_database(scratch_db, "ingest_restart") as db:
        yield db


def test_postgres_restart_during_a_run_loses_nothing(
    private_db: tuple[PrivatePostgres, Settings], kafka_bootstrap: str
) -> None:
    pg, db = private_db
    settings = _kafka_settings(db, kafka_bootstrap)
    expected = _publish(settings, TOTAL, seed=22)
    consumer = TickerConsumer(settings, batch_size=5_000, batch_timeout_s=0.2, status_interval=1.0)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (_count(settings) or 0) < TOTAL // 5:
            time.sleep(0.02)
        before = _count(settings) or 0
        assert TOTAL // 5 <= before < TOTAL, "restart must happen mid-run"
        pg.restart()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (_count(settings) or 0) < TOTAL:
            time.sleep(0.2)
    finally:
        consumer.stop()
        thread.join(60)
    stored = _stored_ids(settings)
    assert consumer.stats.db_retries >= 1  # the writer saw the restart and retried instead of skipping
    assert len(stored) == TOTAL
    assert set(stored) == expected
