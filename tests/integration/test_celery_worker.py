"""A real Celery worker (subprocess, prefork) against real Redis, the filled database and the Messages API stand-in."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
import pytest
import redis

from tests.support.analyst_data import clear_llm_state, filled_database, insert_anomaly
from tests.support.celery_procs import CELERY_TEST_REDIS, client_app, fresh_redis_url, process_env, wait_for, worker
from tests.support.fake_anthropic import FakeAnthropic, Scripted
from upbit_core.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def market_db() -> Iterator[Settings]:
    yield from filled_database()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture(scope="module")
def celery(market_db: Settings, fake: FakeAnthropic, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One worker for the module, consuming llm and maintenance (alerts stay queued, so the test can see them)."""
    url = fresh_redis_url()
    env = process_env(market_db, redis_url=url, fake_url=fake.url, anthropic_max_retries=3)
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    with worker(env, log, queues="llm,maintenance"):
        yield client_app(url)


@pytest.fixture
def db(market_db: Settings, fake: FakeAnthropic) -> Settings:
    clear_llm_state(market_db)
    fake.reset()
    redis.Redis.from_url(CELERY_TEST_REDIS).delete("alerts")
    return market_db


def count(settings: Settings, sql: str, params: tuple[object, ...] = ()) -> Any:
    conn = psycopg2.connect(settings.database_dsn())
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
            return row[0] if row else None
    finally:
        conn.close()


def window(k: int) -> str:
    """A distinct summary window per test (5-minute windows in the past)."""
    return (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=5 * k, seconds=30)).isoformat()


def test_worker_retries_429_and_529_honouring_retry_after_and_stores_the_summary_exactly_once(
    celery: Any, db: Settings, fake: FakeAnthropic
) -> None:
    fake.enqueue(Scripted.error(429, retry_after=1), Scripted.error(529, retry_after=1))
    result = celery.send_task("celery_app.tasks.summary.market_summary", kwargs={"at": window(1)}).get(timeout=60)
    assert result["status"] == "created" and result["grounded"] and not result["offline"]
    reqs = fake.message_requests()
    assert [r.status for r in reqs] == [429, 529, 200]
    assert reqs[1].at - reqs[0].at >= 0.95 and reqs[2].at - reqs[1].at >= 0.95
    body = reqs[-1].body
    assert body["model"] == "claude-haiku-4-5" and body["max_tokens"] == db.llm_max_output_tokens
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"} and body["messages"][0]["role"] == "user"
    assert count(db, "SELECT count(*) FROM llm_results WHERE kind = 'market_summary'") == 1
    calls = count(
        db,
        "SELECT json_agg(json_build_object('status', status, 'in', input_tokens, 'out', output_tokens, "
        "'cw', cache_creation_tokens, 'cost', cost_usd)) FROM llm_calls",
    )
    assert len(calls) == 1 and calls[0]["status"] == "ok"
    assert calls[0]["in"] > 0 and calls[0]["out"] > 0 and calls[0]["cw"] > 0 and calls[0]["cost"] > 0


def test_a_400_is_not_retried_by_the_sdk_or_by_celery(celery: Any, db: Settings, fake: FakeAnthropic) -> None:
    fake.enqueue(Scripted.error(400))
    async_result = celery.send_task("celery_app.tasks.summary.market_summary", kwargs={"at": window(2)})
    async_result.get(timeout=60, propagate=False)
    assert async_result.state == "FAILURE" and "400" in str(async_result.result)
    time.sleep(2)  # a retry would have arrived by now
    assert len(fake.message_requests()) == 1
    assert count(db, "SELECT count(*) FROM llm_results") == 0
    assert count(db, "SELECT status FROM llm_calls") == "error"


def test_the_same_summary_task_twice_for_one_window_stores_one_row(
    celery: Any, db: Settings, fake: FakeAnthropic
) -> None:
    first = celery.send_task("celery_app.tasks.summary.market_summary", kwargs={"at": window(3)})
    second = celery.send_task("celery_app.tasks.summary.market_summary", kwargs={"at": window(3)})
    statuses = sorted([first.get(timeout=60)["status"], second.get(timeout=60)["status"]])
    assert statuses == ["created", "exists"]
    assert count(db, "SELECT count(*) FROM llm_results") == 1
    assert len(fake.message_requests()) == 1  # the window lock kept the second worker process from calling Claude


def test_a_worker_process_killed_mid_task_is_redelivered_and_the_summary_stored_once(
    celery: Any, db: Settings, fake: FakeAnthropic
) -> None:
    fake.enqueue(Scripted.slow(4))  # the first attempt hangs inside the Claude call
    async_result = celery.send_task("celery_app.tasks.summary.market_summary", kwargs={"at": window(4)})
    wait_for(fake.message_requests, timeout=30, what="the first Claude request")

    def worker_pid() -> int | None:
        active = celery.control.inspect(timeout=1).active() or {}
        pids = [t["worker_pid"] for tasks in active.values() for t in tasks if t["id"] == async_result.id]
        return pids[0] if pids else None

    os.kill(wait_for(worker_pid, timeout=10, what="the task on a worker process"), signal.SIGKILL)
    result = async_result.get(timeout=60)  # acks_late + reject_on_worker_lost: the message went back to the queue
    assert result["status"] == "created"
    assert len(fake.message_requests()) == 2
    assert count(db, "SELECT count(*) FROM llm_results") == 1


def test_interpretation_runs_on_the_worker_then_enqueues_alert_delivery(
    celery: Any, db: Settings, fake: FakeAnthropic
) -> None:
    anomaly_id = insert_anomaly(db)
    result = celery.send_task("celery_app.tasks.interpret.interpret_anomaly", args=[anomaly_id]).get(timeout=60)
    assert result["status"] == "interpreted" and result["cause_category"] == "whale_trade"
    assert count(db, "SELECT interpretation->>'cause_category' FROM anomalies WHERE id = %s", (anomaly_id,)) == (
        "whale_trade"
    )
    assert _queued_alerts() == [anomaly_id]


def test_a_failed_interpretation_still_enqueues_alert_delivery(celery: Any, db: Settings, fake: FakeAnthropic) -> None:
    anomaly_id = insert_anomaly(db, kind="price_jump")
    fake.enqueue(Scripted.error(400))
    result = celery.send_task("celery_app.tasks.interpret.interpret_anomaly", args=[anomaly_id]).get(timeout=60)
    assert result["status"] == "failed" and "400" in result["error"]
    assert count(db, "SELECT interpretation FROM anomalies WHERE id = %s", (anomaly_id,)) is None
    assert _queued_alerts() == [anomaly_id]


def test_coin_questions_run_as_a_task(celery: Any, db: Settings, fake: FakeAnthropic) -> None:
    answer = celery.send_task("celery_app.tasks.qa.ask_coin", args=["W코인 지금 어때?"]).get(timeout=60)
    assert answer["status"] == "answered" and answer["markets"] == ["KRW-W"] and answer["cost_usd"] > 0
    english = celery.send_task("celery_app.tasks.qa.ask_coin", args=["bit"], kwargs={"language": "en"}).get(timeout=60)
    assert english["status"] == "ambiguous" and english["text"].startswith("Which coin")


def test_maintenance_tasks_run_on_their_queue(celery: Any, db: Settings) -> None:
    refreshed = celery.send_task("celery_app.tasks.maintenance.refresh_aggregates").get(timeout=60)
    assert refreshed["mode"] == "postgres" and refreshed["buckets"] >= 0
    kept = celery.send_task("celery_app.tasks.maintenance.housekeeping").get(timeout=60)
    assert kept == {
        "ticks_deleted": 0,
        "llm_calls_deleted": 0,
        "answers_deleted": 0,
        "dead_letters_deleted": 0,
        "alert_deliveries_deleted": 0,
        "ingest_gaps_deleted": 0,
        "rest_superseded": 0,
    }


def _queued_alerts() -> list[int]:
    """deliver_alerts messages waiting in the `alerts` queue (no worker consumes it in this module)."""
    client = redis.Redis.from_url(CELERY_TEST_REDIS)

    def read() -> list[int]:
        out = []
        for raw in client.lrange("alerts", 0, -1):
            message = json.loads(raw)
            assert message["headers"]["task"] == "celery_app.tasks.alerts.deliver_alerts"
            out.append(json.loads(_body(message))[0][0])
        return out

    return wait_for(read, timeout=10, what="a deliver_alerts message")


def _body(message: dict[str, Any]) -> str:
    import base64

    body = message["body"]
    return base64.b64decode(body).decode() if message.get("properties", {}).get("body_encoding") == "base64" else body
