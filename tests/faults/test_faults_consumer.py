"""Consumer durability: SIGKILL ×5 mid-stream and a PostgreSQL restart mid-stream lose and duplicate nothing.

Real pieces: simulator messages → Kafka-protocol broker → `upbit-llm consume` (a real process) → PostgreSQL.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.ticker import message_id
from tests.conftest import _test_settings
from tests.faults.conftest import FaultReport
from tests.faults.helpers import (
    KafkaFeeder,
    cli_env,
    create_topic,
    scalar,
    simulator_messages,
    start_cli,
    stop_process,
    stored_ids,
    unique,
    wait_until,
)
from tests.support.private_postgres import PrivatePostgres, migrated_private_database
from upbit_core.settings import Settings

MESSAGES = 40_000
RATE = 4_000.0  # messages/s produced while the consumer is being killed: ~10 s of stream


def _consumer_env(settings: Settings, bootstrap: str, topic: str) -> dict[str, str]:
    return cli_env(
        settings,
        KAFKA_SERVERS=bootstrap,
        KAFKA_TOPIC=topic,
        KAFKA_GROUP_ID=unique("faults_writer"),
        KAFKA_DEAD_LETTER_TOPIC=unique("faults_dead"),
    )


def _count(settings: Settings) -> int:
    return int(scalar(settings, "SELECT count(*) FROM ticker_data") or 0)


def test_consumer_killed_five_times_mid_stream_loses_and_duplicates_nothing(
    scratch_db: Settings, kafka_bootstrap: str, tmp_path: Path, fault_report: FaultReport
) -> None:
    scenario = "consumer SIGKILL x5 mid-stream"
    messages = simulator_messages(MESSAGES)
    expected = {message_id(m) for m in messages}
    topic = unique("faults_kill")
    create_topic(kafka_bootstrap, topic)
    env = _consumer_env(scratch_db, kafka_bootstrap, topic)
    log = tmp_path / "consume.log"
    rng = random.Random(5)

    consumer = start_cli(["consume"], env, log)
    feeder = KafkaFeeder(kafka_bootstrap, topic, messages, RATE)
    feeder.start()
    kills = 0
    try:
        assert wait_until(lambda: _count(scratch_db) > 0, timeout=60), log.read_text()[-3000:]
        while kills < 5:
            time.sleep(rng.uniform(0.5, 2.0))
            consumer.send_signal(signal.SIGKILL)
            consumer.wait(timeout=10)
            kills += 1
            consumer = start_cli(["consume"], env, log)
        feeder.join(timeout=120)
        assert feeder.error is None, feeder.error
        wait_until(lambda: _count(scratch_db) >= len(expected), timeout=120, every=1)
    finally:
        stop_process(consumer)
    ids, rows = stored_ids(scratch_db)
    lost, duplicated = len(expected - ids), rows - len(ids)
    fault_report.record(scenario, "kills", kills, "5", kills == 5)
    fault_report.record(scenario, "rows lost", lost, "0", lost == 0)
    fault_report.record(scenario, "rows duplicated", duplicated, "0", duplicated == 0)
    assert kills == 5
    assert (lost, duplicated) == (0, 0), f"lost={lost} duplicated={duplicated}; log {log}"
    assert ids == expected


@pytest.fixture
def private_db() -> Iterator[tuple[PrivatePostgres, Settings]]:
    """A migrated database on a private PostgreSQL cluster that the test may stop and restart."""
    with migrated_private_database(_test_settings(), "faults_restart") as db:
        yield db


def test_postgres_restart_mid_stream_loses_nothing(
    private_db: tuple[PrivatePostgres, Settings], kafka_bootstrap: str, tmp_path: Path, fault_report: FaultReport
) -> None:
    scenario = "PostgreSQL restart mid-stream"
    pg, settings = private_db
    messages = simulator_messages(MESSAGES // 2, seed=12)
    expected = {message_id(m) for m in messages}
    topic = unique("faults_pg")
    create_topic(kafka_bootstrap, topic)
    log = tmp_path / "consume.log"
    consumer = start_cli(["consume"], _consumer_env(settings, kafka_bootstrap, topic), log)
    feeder = KafkaFeeder(kafka_bootstrap, topic, messages, RATE / 2)
    feeder.start()
    try:
        assert wait_until(lambda: _count(settings) > 0, timeout=60), log.read_text()[-3000:]
        pg.restart(down_seconds=3.0)
        restarted_alive = consumer.poll() is None
        feeder.join(timeout=120)
        assert feeder.error is None, feeder.error
        wait_until(lambda: _count(settings) >= len(expected), timeout=120, every=1)
        survived = consumer.poll() is None
    finally:
        stop_process(consumer)
    ids, rows = stored_ids(settings)
    lost, duplicated = len(expected - ids), rows - len(ids)
    fault_report.record(scenario, "rows lost", lost, "0", lost == 0)
    fault_report.record(scenario, "rows duplicated", duplicated, "0", duplicated == 0)
    fault_report.record(scenario, "consumer crashed", int(not (restarted_alive and survived)), "0", survived)
    assert (lost, duplicated) == (0, 0), f"lost={lost} duplicated={duplicated}; log {log}"
    assert survived, f"the consumer exited during the restart; log {log}"
