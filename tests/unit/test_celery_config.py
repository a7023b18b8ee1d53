"""Celery configuration: queues and routes, late acks, one schedule file with reasons and expiry, Flower auth."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from celery.schedules import crontab

from celery_app.application import ROUTES, TASK_MODULES, Queue, create_app
from celery_app.flower_config import FlowerPasswordMissing, flower_options
from celery_app.schedule import build_schedule, every
from upbit_core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _settings(**kw: object) -> Settings:
    return Settings(_env_file=None, environment="test", **kw)  # type: ignore[call-arg]


def test_app_uses_redis_utc_late_acks_and_one_message_per_worker_process() -> None:
    app = create_app(_settings(redis_url="redis://127.0.0.1:6379/9"))
    conf = app.conf
    assert conf.broker_url == "redis://127.0.0.1:6379/9" and conf.timezone == "UTC" and conf.enable_utc
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit < conf.task_time_limit
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit
    assert {q.name for q in conf.task_queues} == {"llm", "scans", "maintenance", "alerts"}
    assert set(app.conf.include) == set(TASK_MODULES)


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("celery_app.tasks.summary.market_summary", Queue.LLM),
        ("celery_app.tasks.qa.ask_coin", Queue.LLM),
        ("celery_app.tasks.interpret.interpret_anomaly", Queue.LLM),
        ("celery_app.tasks.anomalies.scan_anomalies", Queue.SCANS),
        ("celery_app.tasks.maintenance.housekeeping", Queue.MAINTENANCE),
        ("celery_app.tasks.maintenance.heal_gaps", Queue.MAINTENANCE),
        ("celery_app.tasks.alerts.deliver_alerts", Queue.ALERTS),
    ],
)
def test_tasks_are_routed_to_their_queue(task: str, queue: Queue) -> None:
    app = create_app(_settings())
    route = app.amqp.router.route({}, task)
    assert route["queue"].name == queue.value
    assert any(re.fullmatch(p.replace(".", r"\.").replace("*", ".*"), task) for p in ROUTES)


def test_every_beat_entry_names_a_registered_task_has_expiry_and_a_reason() -> None:
    import celery_app

    celery_app.app.loader.import_default_modules()
    schedule = build_schedule(_settings())
    assert set(schedule) == {
        "market-summary",
        "anomaly-scan",
        "aggregate-refresh",
        "market-catalog-refresh",
        "gap-heal",
        "housekeeping",
    }
    source = (ROOT / "celery_app" / "schedule.py").read_text(encoding="utf-8")
    for name, entry in schedule.items():
        assert entry["task"] in celery_app.app.tasks, entry["task"]
        assert entry["options"]["expires"] > 0
        before = source[: source.index(f'"{name}"')].rstrip().splitlines()
        assert before[-1].strip().startswith("#"), f"{name} has no comment saying why"


def test_minute_intervals_are_clock_aligned_crontabs_and_short_ones_are_timedeltas() -> None:
    assert every(300) == crontab(minute="*/5")
    assert every(60) == crontab(minute="*/1")
    assert every(5) == timedelta(seconds=5)
    assert every(90) == timedelta(seconds=90)
    assert isinstance(every(3600), crontab) and isinstance(every(86_400), crontab)
    fast = build_schedule(_settings(summary_interval_seconds=5, anomaly_scan_interval_seconds=2))
    assert fast["market-summary"]["schedule"] == timedelta(seconds=5)
    assert fast["market-summary"]["options"]["expires"] == 5


def test_flower_refuses_to_start_without_a_password_and_uses_basic_auth_with_one() -> None:
    with pytest.raises(FlowerPasswordMissing, match="FLOWER_PASSWORD"):
        flower_options(_settings(flower_password=""))
    options = flower_options(_settings(flower_user="ops", flower_password="s3cret", flower_port=5599))
    assert options["basic_auth"] == ["ops:s3cret"] and options["port"] == 5599


def test_tasks_retry_only_transient_errors_with_bounded_jittered_backoff() -> None:
    import psycopg2

    from celery_app.tasks.common import BACKOFF_MAX_SECONDS, backoff, is_transient
    from db.connection import DatabaseUnavailable
    from llm.usage import LLMError

    assert is_transient(LLMError("429", transient=True, status=429))
    assert not is_transient(LLMError("400", transient=False, status=400))
    assert is_transient(DatabaseUnavailable("down")) and is_transient(psycopg2.OperationalError("gone"))
    assert not is_transient(ValueError("bug"))
    delays = [backoff(n) for n in range(8)]
    assert 7 <= delays[0] <= 15 and all(1 <= d <= BACKOFF_MAX_SECONDS for d in delays)
    assert min(backoff(6) for _ in range(20)) >= BACKOFF_MAX_SECONDS // 2
