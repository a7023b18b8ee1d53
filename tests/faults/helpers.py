"""Shared pieces of the fault scenarios: run `upbit-llm` commands as real processes, stream simulator messages
into Kafka at a steady rate, and count what the database holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg2

from upbit_core.settings import PROJECT_ROOT, Settings


def cli_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """Environment for an `upbit-llm` child that uses exactly `settings` (plus overrides)."""
    from upbit_llm.demo.children import settings_env

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWER_", "MCP_"))}
    env.update(settings_env(settings))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def start_cli(args: Sequence[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m upbit_llm <args>` in its own session, output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "upbit_llm", *args], cwd=PROJECT_ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20) -> int:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return int(proc.returncode)


def simulator_messages(count: int, *, markets: int = 60, seed: int = 11) -> list[dict[str, Any]]:
    """`count` DEFAULT-format messages from the deterministic simulator (no injected events)."""
    from fake_upbit.simulator import MarketSimulator

    sim = MarketSimulator(markets=markets, seed=seed, rate=2_000.0, events=False)
    out: list[dict[str, Any]] = []
    for msg in sim.messages(count / 2_000.0 * 1.5 + 5):
        out.append(msg)
        if len(out) >= count:
            break
    return out


class KafkaFeeder(threading.Thread):
    """Produces messages (canonical JSON, key = market code) at `rate` per second in a background thread."""

    def __init__(self, bootstrap: str, topic: str, messages: Sequence[dict[str, Any]], rate: float) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.messages, self.rate = bootstrap, topic, messages, rate
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        from kafka import KafkaProducer

        from ingest.ticker import canonical_bytes

        try:
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
            started = time.monotonic()
            for i, msg in enumerate(self.messages):
                producer.send(self.topic, key=str(msg["code"]).encode(), value=canonical_bytes(msg))
                self.sent = i + 1
                ahead = self.sent / self.rate - (time.monotonic() - started)
                if ahead > 0.01:
                    time.sleep(ahead)
            producer.flush(timeout=60)
            producer.close(timeout=10)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the test through .error
            self.error = exc


def create_topic(bootstrap: str, topic: str, partitions: int = 3) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def scalar(settings: Settings, sql: str, params: Sequence[object] = ()) -> Any:
    conn = psycopg2.connect(settings.database_dsn(), connect_timeout=3)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
            return row[0] if row else None
    finally:
        conn.close()


def stored_ids(settings: Settings) -> tuple[set[uuid.UUID], int]:
    """(distinct msg_ids in ticker_data, total rows)."""
    conn = psycopg2.connect(settings.database_dsn(), connect_timeout=3)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT msg_id::text FROM ticker_data")
            ids = [uuid.UUID(r[0]) for r in cur.fetchall()]
    finally:
        conn.close()
    return set(ids), len(ids)


def wait_until(predicate: Callable[[], bool], timeout: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except psycopg2.Error:
            pass
        time.sleep(every)
    return False
