"""The Celery app: Redis broker, UTC, explicit task modules, one queue per kind of work, late acks, time limits."""

from __future__ import annotations

import logging
from enum import StrEnum

from celery import Celery
from kombu import Queue as KombuQueue

from upbit_core.settings import Settings, get_settings

log = logging.getLogger(__name__)


class Queue(StrEnum):
    """Queues by kind, so a slow Claude call never delays an anomaly scan or an alert."""

    LLM = "llm"
    SCANS = "scans"
    MAINTENANCE = "maintenance"
    ALERTS = "alerts"


# Explicit list (no autodiscovery): a worker fails at start-up, not at first use, when a module is broken.
TASK_MODULES: tuple[str, ...] = (
    "celery_app.tasks.summary",
    "celery_app.tasks.qa",
    "celery_app.tasks.interpret",
    "celery_app.tasks.maintenance",
    "celery_app.tasks.anomalies",
    "celery_app.tasks.alerts",
)

ROUTES: dict[str, dict[str, str]] = {
    "celery_app.tasks.summary.*": {"queue": Queue.LLM},
    "celery_app.tasks.qa.*": {"queue": Queue.LLM},
    "celery_app.tasks.interpret.*": {"queue": Queue.LLM},
    "celery_app.tasks.anomalies.*": {"queue": Queue.SCANS},
    "celery_app.tasks.maintenance.*": {"queue": Queue.MAINTENANCE},
    "celery_app.tasks.alerts.*": {"queue": Queue.ALERTS},
}


def llm_time_limits(settings: Settings) -> tuple[int, int]:
    """(soft, hard) seconds for an LLM task: two generations, each allowed every SDK retry at the full timeout."""
    per_call = settings.anthropic_timeout_seconds * (settings.anthropic_max_retries + 1) + 10
    soft = int(2 * per_call + 30)
    return soft, soft + 30


RESTORE_SWEEP_SECONDS = 5


def transport_options(hard_limit: int) -> dict[str, int]:
    """Redis transport options for a worker whose longest task may run `hard_limit` seconds."""
    return {
        "visibility_timeout": int(hard_limit * 1.5),
        "unacked_restore_interval": RESTORE_SWEEP_SECONDS,
        "unacked_restore_throttle": 1,
    }


def create_app(settings: Settings) -> Celery:
    # Here, not at module top: celery_app.schedule imports this module's Queue (a cycle at import time).
    from celery_app.schedule import build_schedule

    app = Celery("upbit_llm", include=list(TASK_MODULES))
    soft, hard = llm_time_limits(settings)
    app.conf.update(
        broker_url=settings.redis_url,
        result_backend=settings.celery_backend_url,
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        enable_utc=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_queues=[KombuQueue(q.value, routing_key=q.value) for q in Queue],
        task_default_queue=Queue.MAINTENANCE.value,
        task_routes=ROUTES,
        # Tasks are idempotent (one stored result per kind and window), so a message is acknowledged only after
        # the work is done and redelivered if the worker dies mid-task.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=soft,
        task_time_limit=hard,
        # Machine loss: Redis hands an unacknowledged message (its worker died with it) to another worker once
        # it is older than visibility_timeout. It must exceed the longest task (the hard limit), or a running task
        # would be handed out twice; 1.5x leaves room, and a sweep every 5 s (kombu's default sweeps only every
        # 10 x 10 s) keeps the redelivery within 2x the hard limit. Countdown retries (≤ 300 s) stay below it.
        broker_transport_options=transport_options(hard),
        result_expires=24 * 3600,
        task_track_started=True,
        worker_send_task_events=True,  # Flower's live view
        task_send_sent_event=True,
    )
    app.conf.beat_schedule = build_schedule(settings)
    return app


def current_settings() -> Settings:
    """The worker's settings (read once per process from the environment and .env)."""
    return get_settings()


app = create_app(get_settings())
