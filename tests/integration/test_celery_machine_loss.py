"""Machine loss and duplicated schedulers, with real Celery processes, Redis, PostgreSQL and the Claude stand-in:
a worker killed mid-task (SIGKILL of its whole process group) has the task redelivered to another worker within
2x the task's hard time limit, and two beat processes never make two Claude calls for one summary window."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pytest

from celery_app.application import llm_time_limits, transport_options
from tests.support.analyst_data import filled_database
from tests.support.celery_procs import client_app, fresh_redis_url, process_env, running, wait_for, worker
from tests.support.fake_anthropic import FakeAnthropic, Scripted
from upbit_core.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def market_db() -> Iterator[Settings]:
    yield from filled_database()


def _summaries(settings: Settings) -> list[str]:
    conn = psycopg2.connect(settings.database_dsn())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT window_key FROM llm_results WHERE kind = 'market_summary' ORDER BY window_key")
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def _clear(settings: Settings) -> None:
    conn = psycopg2.connect(settings.database_dsn())
    with conn, conn.cursor() as cur:
        cur.execute("DELETE FROM llm_results")
        cur.execute("DELETE FROM llm_calls")
    conn.close()


def test_a_task_of_a_killed_worker_is_redelivered_within_twice_its_hard_time_limit(
    market_db: Settings, tmp_path: Path
) -> None:
    _clear(market_db)
    # Short SDK timeout so the hard limit (and the test) stays short; the formula is the production one.
    quick = market_db.model_copy(update={"anthropic_timeout_seconds": 3.0, "anthropic_max_retries": 0})
    _soft, hard = llm_time_limits(quick)
    visibility = transport_options(hard)["visibility_timeout"]
    redis_url = fresh_redis_url()
    with FakeAnthropic() as fake:
        fake.enqueue(Scripted.slow(2.5))  # the first call is in flight when the machine dies
        env = process_env(quick, redis_url=redis_url, fake_url=fake.url)
        name = f"doomed-{uuid.uuid4().hex[:6]}@localhost"
        args = ["worker", "-Q", "llm", "-c", "1", "-n", name, "--without-gossip", "--without-mingle", "--loglevel=INFO"]
        app = client_app(redis_url)
        at = datetime.now(UTC).isoformat()
        with running(args, env, tmp_path / "doomed.log") as doomed:
            result = app.send_task("celery_app.tasks.summary.market_summary", kwargs={"at": at}, queue="llm")
            wait_for(lambda: fake.message_requests(), timeout=90, what="the first Claude call")
            os.killpg(doomed.pid, signal.SIGKILL)  # machine loss: worker and its pool die at once, no ack
            killed_at = time.monotonic()
            doomed.wait(timeout=10)
        with worker(env, tmp_path / "survivor.log", queues="llm", concurrency=1):
            wait_for(lambda: len(fake.message_requests()) >= 2, timeout=2 * hard + 30, what="the redelivered call")
            redelivered_after = time.monotonic() - killed_at
            outcome = result.get(timeout=120)
    print(
        f"worker loss: task redelivered {redelivered_after:.1f} s after SIGKILL "
        f"(hard time limit {hard} s, visibility timeout {visibility} s, bound 2x hard = {2 * hard} s)"
    )
    assert redelivered_after <= 2 * hard
    assert outcome["status"] != "no_data", outcome
    assert len(_summaries(market_db)) == 1


def test_two_beat_processes_never_make_two_claude_calls_for_one_summary_window(
    market_db: Settings, tmp_path: Path
) -> None:
    _clear(market_db)
    interval = 5
    with FakeAnthropic() as fake:
        env = process_env(
            market_db,
            redis_url=fresh_redis_url(),
            fake_url=fake.url,
            summary_interval_seconds=interval,
            anomaly_scan_interval_seconds=3600,
            aggregate_refresh_interval_seconds=3600,
        )
        beats = [["beat", "-s", str(tmp_path / f"beat-{i}"), "--max-interval", "1", "--loglevel=INFO"] for i in (1, 2)]
        with (
            worker(env, tmp_path / "worker.log", queues="llm,maintenance", concurrency=2),
            running(beats[0], env, tmp_path / "beat-1.log"),
            running(beats[1], env, tmp_path / "beat-2.log"),
        ):
            windows = wait_for(
                lambda: w if len(w := _summaries(market_db)) >= 3 else None, timeout=60, what="three summaries"
            )
            time.sleep(2)  # let a late duplicate of the last window reach the worker
            windows = _summaries(market_db)
            calls = len(fake.message_requests())
        sent = [
            (tmp_path / f"beat-{i}.log").read_text(errors="replace").count("Sending due task market-summary")
            for i in (1, 2)
        ]
    print(f"two beats: due-task messages sent={sent} summary windows={len(windows)} Claude calls={calls}")
    assert all(n >= 2 for n in sent)  # both schedulers really ran and sent duplicates
    assert calls == len(windows)  # one Claude call per window, not per message
    assert len(set(windows)) == len(windows)
