"""`upbit-llm services` and `doctor` against the machine's real services and a real local broker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from upbit_core.settings import Settings
from upbit_llm import services

pytestmark = pytest.mark.integration


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "upbit_llm", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def test_services_up_starts_a_kafka_protocol_broker_and_down_stops_it(tmp_path: Path) -> None:
    port = services.free_port()
    env = {"KAFKA_SERVERS": f"127.0.0.1:{port}", "RUN_DIR": str(tmp_path)}
    try:
        up = _cli("services", "up", "--json", env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert services.port_open("127.0.0.1", port)
        assert (tmp_path / "tansu.pid").exists()
        # The broker speaks Kafka: kafka-python can create a topic, produce and read back.
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition

        producer = KafkaProducer(bootstrap_servers=f"127.0.0.1:{port}", acks="all")
        producer.send("svc-check", b"hello").get(timeout=20)
        producer.close()
        consumer = KafkaConsumer(bootstrap_servers=f"127.0.0.1:{port}", consumer_timeout_ms=5000)
        partitions = [TopicPartition("svc-check", i) for i in consumer.partitions_for_topic("svc-check") or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        assert [m.value for m in consumer] == [b"hello"]
        consumer.close()
        status = _cli("services", "status", env=env)
        assert status.returncode == 0 and "kafka" in status.stdout
    finally:
        down = _cli("services", "down", env=env)
    assert "stopped local broker" in down.stdout
    assert not services.wait_for_port("127.0.0.1", port, 0.5)


def test_doctor_reports_a_missing_broker_with_the_exact_fix() -> None:
    port = services.free_port()
    out = _cli("doctor", env={"KAFKA_SERVERS": f"127.0.0.1:{port}", "TIMESCALEDB_DBNAME": "doctor_missing_db"})
    assert out.returncode == 1
    assert "[FAIL] kafka" in out.stdout and "upbit-llm services up" in out.stdout
    assert "upbit-llm migrate" in out.stdout
    assert "offline analyst" in out.stdout


def test_doctor_passes_when_everything_required_is_up(scratch_db: Settings, kafka_bootstrap: str) -> None:
    out = _cli(
        "doctor",
        "--json",
        env={
            "KAFKA_SERVERS": kafka_bootstrap,
            "TIMESCALEDB_DBNAME": scratch_db.timescaledb_dbname,
            "TIMESCALEDB_MODE": "off",
        },
    )
    assert out.returncode == 0, out.stdout
    assert '"ok": true' in out.stdout


def test_migrate_command_prints_the_mode_and_is_idempotent(scratch_db: Settings) -> None:
    env = {"TIMESCALEDB_DBNAME": scratch_db.timescaledb_dbname, "TIMESCALEDB_MODE": "auto"}
    first = _cli("migrate", env=env)
    second = _cli("migrate", env=env)
    assert first.returncode == 0 and second.returncode == 0
    assert "mode=postgres" in second.stdout and "schema up to date" in second.stdout
