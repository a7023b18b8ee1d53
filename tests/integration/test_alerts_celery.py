"""The whole alert chain on real Celery workers: scan → interpret (offline analyst) → deliver to a local Slack
receiver; and a worker SIGKILLed while its Slack request is in flight, then restarted, does not deliver twice."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import redis

from fake_upbit.simulator import EventPlan, MarketSimulator
from tests.support.celery_procs import client_app, process_env, running, wait_for, worker
from tests.support.receivers import Reply, running_receiver
from tests.support.rows import load_catalog, load_messages
from upbit_core.settings import Settings

pytestmark = pytest.mark.slow

# This module's own Redis database: the Celery team's tests flush db 11, the demo uses 12, fixtures 14.
ANOMALY_REDIS = "redis://127.0.0.1:6379/9"
START_MS = 1_767_225_600_000
PLAN = EventPlan(first_event_s=400.0, interval_s=600.0, trend_at_s=None, sequence=("pump",))


@pytest.fixture
def redis_db9() -> Iterator[str]:
    client = redis.Redis.from_url(ANOMALY_REDIS)
    client.flushdb()
    yield ANOMALY_REDIS
    client.flushdb()


@contextmanager
def _worker_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker on the alerts queue whose process (group) id we hold, so the test can SIGKILL exactly it."""
    name = f"alerts-{uuid.uuid4().hex[:8]}@localhost"
    args = ["worker", "-Q", "alerts", "-c", "1", "-n", name, "--loglevel=INFO", "--without-gossip", "--without-mingle"]
    with running(args, env, log) as proc:
        app = client_app(env["REDIS_URL"])
        wait_for(
            lambda: proc.poll() is not None or app.control.ping(destination=[name], timeout=0.5),
            timeout=60,
            what="the worker to answer a ping",
        )
        assert proc.poll() is None, log.read_text(errors="replace")
        yield proc


def _one(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> Any:
    conn = psycopg2.connect(settings.database_dsn())
    with conn, conn.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
    conn.close()
    return row


def test_a_scan_task_leads_to_a_facts_alert_then_one_interpretation_follow_up_per_event_version(
    scratch_db: Settings, redis_db9: str, tmp_path: Any
) -> None:
    sim = MarketSimulator(markets=30, seed=11, start_ms=START_MS, rate=30.0, plan=PLAN)
    load_catalog(scratch_db, sim.catalog())
    load_messages(scratch_db, sim.messages(560))
    with running_receiver() as rx:
        env = process_env(
            scratch_db,
            redis_url=redis_db9,
            slack_webhook_url=rx.path_url("/slack"),
            alert_backoff_seconds=0.1,
            alert_max_age_seconds=0,  # the simulated tape sits at 2026-01-01 event time
        )
        with worker(env, tmp_path / "worker.log", queues="scans,llm,alerts"):
            app = client_app(redis_db9)
            result = app.send_task("celery_app.tasks.anomalies.scan_anomalies").get(timeout=120)
            assert result["opened"], result
            pump_id = _one(scratch_db, "SELECT id FROM anomalies WHERE kind = 'pump' ORDER BY id LIMIT 1")[0]
            wait_for(
                lambda: (
                    _one(
                        scratch_db,
                        "SELECT count(*) FROM alert_claims WHERE anomaly_id = %s AND part = 'reading'"
                        " AND state IN ('sent', 'skipped')",
                        (pump_id,),
                    )[0]
                    >= 1
                ),
                timeout=90,
                what="the pump's Slack alert and its interpretation follow-up",
            )
            # Deliver the same event again through the queue (a duplicate message): nothing new is sent.
            again = app.send_task("celery_app.tasks.alerts.deliver_alerts", args=[pump_id]).get(timeout=60)
        time.sleep(0.5)
        pump_msgs = [r for r in rx.requests if f"anomaly #{pump_id}" in r.body.decode()]
    assert again["outcomes"]["slack"].startswith("already:")
    versions = {(_one(scratch_db, "SELECT status FROM anomalies WHERE id = %s", (pump_id,))[0])}
    assert versions
    # Per status version the pump went through (open, maybe escalated): the facts, then at most one follow-up with
    # the reading — never two of one.
    keys = [r.header("X-Idempotency-Key") for r in pump_msgs]
    assert keys and len(keys) == len(set(keys))
    first = pump_msgs[0].json
    assert "KRW-" in first["blocks"][0]["text"]["text"]
    # The reading arrives as a follow-up — or inside the alert when the model beat the alerts queue.
    follow_ups = [r.json for r in pump_msgs if r.header("X-Idempotency-Key").endswith("-reading")]
    with_reading = follow_ups[0] if follow_ups else first
    if follow_ups:
        assert "Interpretation: " in with_reading["blocks"][0]["text"]["text"]
    assert "Interpretation pending" not in with_reading["blocks"][2]["text"]["text"]  # the offline analyst's reading


def test_a_celery_worker_killed_mid_send_and_restarted_does_not_deliver_twice(
    scratch_db: Settings, redis_db9: str, tmp_path: Any
) -> None:
    conn = psycopg2.connect(scratch_db.database_dsn())
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO anomalies (market, kind, severity, status, started_at, detected_at, metrics, dedup_key)"
            " VALUES ('KRW-W', 'pump', 'critical', 'open', now(), now(), '{\"price_change_pct\": 25}', 'kill-test')"
            " RETURNING id"
        )
        anomaly_id = cur.fetchone()[0]
    conn.close()
    with running_receiver([Reply(200, delay=60)]) as rx:
        env = process_env(
            scratch_db, redis_url=redis_db9, slack_webhook_url=rx.url, alert_timeout_seconds=90, alert_max_age_seconds=0
        )
        with _worker_process(env, tmp_path / "worker1.log") as first:
            app = client_app(redis_db9)
            app.send_task("celery_app.tasks.alerts.deliver_alerts", args=[anomaly_id])
            assert rx.wait_for(1, timeout=60)
            # SIGKILL the worker (main process and pool child: its own process group) with the request in flight.
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        with worker(env, tmp_path / "worker2.log", queues="alerts", concurrency=1):
            app = client_app(redis_db9)
            # What acks_late does once the broker gives the unacknowledged message back: run it again.
            outcome = app.send_task("celery_app.tasks.alerts.deliver_alerts", args=[anomaly_id]).get(timeout=60)
        time.sleep(0.3)
        assert len(rx.requests) == 1
    assert outcome["outcomes"]["slack"] in ("unknown", "already:unknown")
    assert _one(scratch_db, "SELECT state FROM alert_claims WHERE anomaly_id = %s", (anomaly_id,)) == ("unknown",)
