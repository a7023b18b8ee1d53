"""The one beat schedule: every periodic task, why it exists, how often, and when a missed run stops mattering.

Intervals come from Settings (SUMMARY_INTERVAL_SECONDS, ANOMALY_SCAN_INTERVAL_SECONDS, ...), so tests run a fast
schedule. Anything that divides an hour into whole minutes is a crontab aligned to the clock (a beat restart does
not shift it, and summary windows line up with 5-minute boundaries); shorter intervals use a plain timedelta.
Every entry has `expires`: a run that waited longer than one period in the queue is dropped, since the next one
supersedes it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery.schedules import crontab

from celery_app.application import Queue
from upbit_core.settings import Settings


def every(seconds: int) -> crontab | timedelta:
    """A clock-aligned crontab for whole minutes that divide an hour (or whole hours that divide a day)."""
    if seconds >= 60 and seconds % 60 == 0:
        minutes = seconds // 60
        if minutes < 60 and 60 % minutes == 0:
            return crontab(minute=f"*/{minutes}")
        if minutes % 60 == 0 and 24 % (minutes // 60) == 0:
            hours = minutes // 60
            return crontab(minute=7, hour="*" if hours == 1 else f"*/{hours}")  # :07, off the busy top of the hour
    return timedelta(seconds=seconds)


def build_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        # Why: the product's headline — a Claude (or offline) market summary every 5 minutes, stored once per window
        # (llm_results UNIQUE(kind, window_key)) for MCP and the dashboard.
        "market-summary": {
            "task": "celery_app.tasks.summary.market_summary",
            "schedule": every(settings.summary_interval_seconds),
            "options": {"queue": Queue.LLM.value, "expires": settings.summary_interval_seconds},
        },
        # Why: detect pumps, dumps and value spikes within seconds of the data; each new or escalated event is then
        # interpreted (queue llm) and alerted (queue alerts). Interval set by the anomaly issue.
        "anomaly-scan": {
            "task": "celery_app.tasks.anomalies.scan_anomalies",
            "schedule": every(settings.anomaly_scan_interval_seconds),
            "options": {"queue": Queue.SCANS.value, "expires": settings.anomaly_scan_interval_seconds},
        },
        # Why: materialise ohlcv_1m (plain PostgreSQL; TimescaleDB's policy does it too) so views stay cheap to read
        # and replays of old data are folded in.
        "aggregate-refresh": {
            "task": "celery_app.tasks.maintenance.refresh_aggregates",
            "schedule": every(settings.aggregate_refresh_interval_seconds),
            "options": {"queue": Queue.MAINTENANCE.value, "expires": settings.aggregate_refresh_interval_seconds},
        },
        # Why: Upbit lists and delists markets and changes caution flags; the resolver and ingest need the catalog.
        "market-catalog-refresh": {
            "task": "celery_app.tasks.maintenance.refresh_catalog",
            "schedule": every(settings.catalog_refresh_interval_seconds),
            "options": {"queue": Queue.MAINTENANCE.value, "expires": settings.catalog_refresh_interval_seconds},
        },
        # Why: every WebSocket reconnect, watchdog recycle or ingest outage leaves minutes without fills, and every
        # aggregate over them (1 h changes, baselines, anomaly scores) is wrong until they are filled. This fetches the
        # recorded gaps' minutes from Upbit REST while Upbit still keeps them; a heal takes one request per market, so
        # a run that waited longer than a period is dropped (the next one picks up the same gaps).
        "gap-heal": {
            "task": "celery_app.tasks.maintenance.heal_gaps",
            "schedule": every(settings.gap_heal_interval_seconds),
            "options": {"queue": Queue.MAINTENANCE.value, "expires": settings.gap_heal_interval_seconds},
        },
        # Why: raw-tick retention in plain PostgreSQL mode, and retention of the operational logs that otherwise
        # grow forever (dead_letters — a hostile feed can add millions —, alert_deliveries, closed ingest_gaps,
        # llm_calls; *_RETENTION_DAYS settings). Hourly is plenty; a missed run is caught up by the next.
        "housekeeping": {
            "task": "celery_app.tasks.maintenance.housekeeping",
            "schedule": every(3600),
            "options": {"queue": Queue.MAINTENANCE.value, "expires": 3600},
        },
    }
