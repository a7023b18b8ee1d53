"""A webhook receiver answering 500 three times: the alert is retried and delivered exactly once, even when the
delivery is then requested again, three times concurrently."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg2
from psycopg2.extras import Json

from alerts.delivery import deliver
from alerts.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from tests.conftest import _test_settings
from tests.faults.conftest import FaultReport
from tests.faults.helpers import scalar
from tests.support.receivers import Receiver, Reply
from upbit_core.settings import Settings

SECRET = "faults-webhook-secret"


def _insert_anomaly(settings: Settings) -> int:
    conn = psycopg2.connect(settings.database_dsn())
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO markets (code, quote, base, korean_name, english_name) "
            "VALUES ('KRW-KAVA', 'KRW', 'KAVA', '카바', 'Kava') ON CONFLICT DO NOTHING"
        )
        cur.execute(
            "INSERT INTO anomalies (market, kind, severity, status, started_at, detected_at, metrics, dedup_key) "
            "VALUES ('KRW-KAVA', 'pump', 'high', 'open', %s, %s, %s, %s) RETURNING id",
            (
                datetime(2026, 1, 1, 0, 1, 0, tzinfo=UTC),
                datetime(2026, 1, 1, 0, 1, 10, tzinfo=UTC),
                Json({"window_seconds": 10, "price_change_pct": 12.5, "value_ratio": 42.0, "buy_share_pct": 91.0}),
                f"faults:KRW-KAVA:{time.time_ns()}",
            ),
        )
        anomaly_id = int(cur.fetchone()[0])  # type: ignore[index]
    conn.close()
    return anomaly_id


def test_webhook_failing_with_500_three_times_is_delivered_exactly_once(
    scratch_db: Settings, fault_report: FaultReport
) -> None:
    scenario = "webhook 5xx x3"
    anomaly_id = _insert_anomaly(scratch_db)
    receiver = Receiver(script=[Reply(500), Reply(502), Reply(503)]).start()
    try:
        settings = _test_settings(
            timescaledb_dbname=scratch_db.timescaledb_dbname,
            alert_webhook_url=receiver.path_url("/hook"),
            alert_webhook_secret=SECRET,
            webhook_min_severity="low",
            alert_backoff_seconds=0.05,
            alert_backoff_max_seconds=0.2,
            alert_max_attempts=6,
            alert_max_age_seconds=0,  # the event sits at a fixed 2026-01-01 event time: not the history filter
        )
        first = deliver(settings, anomaly_id)
        with ThreadPoolExecutor(max_workers=3) as pool:
            again = list(pool.map(lambda _: deliver(settings, anomaly_id), range(3)))
        time.sleep(0.3)
    finally:
        receiver.stop()
    statuses = [r.status for r in receiver.requests]
    delivered = statuses.count(200)
    sent_rows = scalar(
        scratch_db,
        "SELECT count(*) FROM alert_deliveries WHERE anomaly_id = %s AND channel = 'webhook' AND status = 'sent'",
        (anomaly_id,),
    )
    ok = receiver.requests[-1]
    stamp, signature = ok.header(TIMESTAMP_HEADER) or "", ok.header(SIGNATURE_HEADER) or ""
    signed = verify_signature(SECRET, stamp, ok.body, signature)
    failures = sum(1 for s in statuses if s >= 500)
    fault_report.record(scenario, "5xx answers survived", failures, "3", failures == 3)
    fault_report.record(scenario, "delivered", delivered, "1", delivered == 1)
    fault_report.record(scenario, "deliveries recorded as sent", sent_rows, "1", sent_rows == 1)
    assert first.outcomes["webhook"] == "sent", first.outcomes
    assert all(r.outcomes["webhook"] != "failed" for r in again), [r.outcomes for r in again]
    assert statuses == [500, 502, 503, 200], statuses
    assert delivered == 1 and sent_rows == 1
    assert signed
