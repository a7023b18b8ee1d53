"""Retention of the operational logs (dead_letters, alert_deliveries, ingest_gaps, llm_calls) on a real database,
and the beat entry that runs it."""

from __future__ import annotations

import pytest

from celery_app.schedule import build_schedule
from db.connection import connect
from db.maintenance import prune_operational_logs
from tests.support.rows import query_rows
from upbit_core.settings import Settings

pytestmark = pytest.mark.integration


FILL = (
    "INSERT INTO dead_letters (stage, reason, raw, created_at) "
    "VALUES ('ws', 'r', 'x', now() - make_interval(days => %(age)s))",
    "INSERT INTO ingest_gaps (gap_start, gap_end, reason, detected_at) VALUES "
    "(now() - make_interval(days => %(age)s), now() - make_interval(days => %(age)s), 'closed', "
    "now() - make_interval(days => %(age)s)), "
    "(now() - make_interval(days => %(age)s), NULL, 'still open', now() - make_interval(days => %(age)s))",
    "INSERT INTO llm_calls (task_kind, model, status, created_at) "
    "VALUES ('market_summary', 'm', 'ok', now() - make_interval(days => %(age)s))",
    "INSERT INTO anomalies (market, kind, severity, status, started_at, detected_at, metrics, dedup_key) "
    "VALUES ('KRW-BTC', 'pump', 'high', 'open', now(), now(), '{}', %(key)s)",
    "INSERT INTO alert_deliveries (anomaly_id, channel, idempotency_key, attempt, status, created_at) "
    "SELECT id, 'slack', 'k', 1, 'sent', now() - make_interval(days => %(age)s) "
    "FROM anomalies WHERE dedup_key = %(key)s",
)


def _fill(settings: Settings) -> None:
    conn = connect(settings)
    with conn, conn.cursor() as cur:
        for age in (1, 40, 400):
            for statement in FILL:
                cur.execute(statement, {"age": age, "key": f"k{age}"})
    conn.close()


def test_housekeeping_deletes_only_rows_older_than_each_retention_setting_and_keeps_open_gaps(
    scratch_db: Settings,
) -> None:
    _fill(scratch_db)
    settings = scratch_db.model_copy(
        update={
            "dead_letter_retention_days": 30,
            "alert_delivery_retention_days": 90,
            "ingest_gap_retention_days": 365,
            "llm_call_retention_days": 7,
        }
    )
    conn = connect(settings)
    try:
        deleted = prune_operational_logs(conn, settings)
        again = prune_operational_logs(conn, settings)
    finally:
        conn.close()
    assert deleted == {"dead_letters": 2, "alert_deliveries": 1, "ingest_gaps": 1, "llm_calls": 2}
    assert again == {"dead_letters": 0, "alert_deliveries": 0, "ingest_gaps": 0, "llm_calls": 0}
    assert query_rows(settings, "SELECT count(*) FROM dead_letters") == [(1,)]
    assert query_rows(settings, "SELECT count(*) FROM llm_calls") == [(1,)]
    assert query_rows(settings, "SELECT count(*) FROM alert_deliveries") == [(2,)]
    gaps = query_rows(settings, "SELECT reason, count(*) FROM ingest_gaps GROUP BY reason ORDER BY reason")
    assert gaps == [("closed", 2), ("still open", 3)]


def test_housekeeping_is_in_the_beat_schedule_with_an_expiry(base_settings: Settings) -> None:
    entry = build_schedule(base_settings)["housekeeping"]
    assert entry["task"] == "celery_app.tasks.maintenance.housekeeping"
    assert entry["options"]["expires"] > 0
