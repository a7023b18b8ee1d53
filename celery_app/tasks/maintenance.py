"""Celery maintenance tasks (queue maintenance): aggregate refresh, market-catalog refresh, housekeeping, gap heal."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from celery_app.application import app, current_settings
from celery_app.tasks.common import backoff, is_transient
from db.connection import connect
from db.maintenance import apply_retention, prune_operational_logs, prune_superseded_rest_minutes
from db.maintenance import refresh_aggregates as refresh
from ingest.catalog import CatalogError, fetch_catalog, store_catalog
from ingest.gap_heal import heal_gaps as heal
from ingest.rest_candles import RestCandleClient

log = logging.getLogger(__name__)

# Cached coin answers are kept a month (the cost ledger llm_calls: LLM_CALL_RETENTION_DAYS, see housekeeping).
QA_RESULTS_RETENTION_DAYS = 30


@app.task(name="celery_app.tasks.maintenance.refresh_aggregates", bind=True, max_retries=2)
def refresh_aggregates(self: Task) -> dict[str, Any]:
    """Materialise invalidated candle buckets of every level, 1m to 1d (idempotent: a second run finds nothing)."""
    try:
        conn = connect(current_settings(), application_name="upbit-llm-maintenance")
    except Exception as exc:
        if is_transient(exc) and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
        raise
    try:
        result = refresh(conn)
    finally:
        conn.close()
    return {
        "mode": result.mode,
        "buckets": result.buckets,
        "seconds": round(result.seconds, 3),
        "levels": {level: round(seconds, 3) for level, seconds in result.levels.items()},
    }


@app.task(name="celery_app.tasks.maintenance.refresh_catalog", bind=True, max_retries=3)
def refresh_catalog(self: Task) -> dict[str, Any]:
    """Fetch Upbit's market catalog (REST) and store listings, delistings and caution flags."""
    settings = current_settings()
    try:
        catalog = fetch_catalog(settings.upbit_rest_url)
    except CatalogError as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
        raise
    conn = connect(settings, application_name="upbit-llm-maintenance")
    try:
        change = store_catalog(conn, catalog)
    finally:
        conn.close()
    log.info("catalog refreshed total=%s listed=%s delisted=%s", change.total, len(change.listed), len(change.delisted))
    return {"total": change.total, "listed": change.listed, "delisted": change.delisted}


@app.task(name="celery_app.tasks.maintenance.housekeeping")
def housekeeping() -> dict[str, Any]:
    """Raw-tick retention (plain PostgreSQL mode), retention of the operational logs (dead letters, alert
    deliveries, closed ingest gaps, LLM call records; *_RETENTION_DAYS settings) and pruning of cached answers."""

    settings = current_settings()
    conn = connect(settings, application_name="upbit-llm-maintenance")
    try:
        rest = prune_superseded_rest_minutes(conn)
        ticks = apply_retention(conn, settings)
        pruned = prune_operational_logs(conn, settings)
        calls = pruned["llm_calls"]
        with conn.cursor() as cur:
            cur.execute(
                "DELETE FROM llm_results WHERE kind = 'coin_qa' AND created_at < now() - make_interval(days => %s)",
                (QA_RESULTS_RETENTION_DAYS,),
            )
            answers = cur.rowcount
        conn.commit()
    finally:
        conn.close()
    log.info(
        "housekeeping ticks_deleted=%s llm_calls_deleted=%s answers_deleted=%s rest_minutes_superseded=%s",
        ticks,
        calls,
        answers,
        rest,
    )
    return {
        "ticks_deleted": ticks,
        "llm_calls_deleted": calls,
        "answers_deleted": answers,
        "dead_letters_deleted": pruned["dead_letters"],
        "alert_deliveries_deleted": pruned["alert_deliveries"],
        "ingest_gaps_deleted": pruned["ingest_gaps"],
        "rest_superseded": rest,
    }


HEAL_LOCK_KEY = 0x4845_414C_4741_5053  # "HEALGAPS": one heal run at a time per database


@app.task(name="celery_app.tasks.maintenance.heal_gaps", bind=True, max_retries=2)
def heal_gaps(self: Task) -> dict[str, Any]:
    """Fetch the minutes of every recorded, not yet healed ingest gap from Upbit REST (idempotent: a healed gap
    is not fetched again; an interrupted heal resumes its REST job)."""
    settings = current_settings()
    try:
        conn = connect(settings, application_name="upbit-llm-heal")
    except Exception as exc:
        if is_transient(exc) and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
        raise
    client = RestCandleClient.from_settings(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (HEAL_LOCK_KEY,))
            row = cur.fetchone()
        conn.commit()
        if not row or not row[0]:
            return {"skipped": "another heal is running"}
        try:
            report = heal(conn, settings, client)
        finally:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (HEAL_LOCK_KEY,))
            conn.commit()
    finally:
        client.close()
        conn.close()
    log.info("gap heal %s", report.as_dict())
    return report.as_dict()
