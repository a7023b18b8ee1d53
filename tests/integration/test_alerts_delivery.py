"""Alert delivery against a real local HTTP receiver and a real database: retries, once-only, filters, shapes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from psycopg2.extras import Json
from pydantic import SecretStr

from alerts.delivery import deliver
from alerts.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from tests.support.receivers import Reply, running_receiver
from upbit_core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-webhook-secret"


def _insert_anomaly(
    settings: Settings,
    *,
    market: str = "KRW-KAVA",
    severity: str = "high",
    status: str = "open",
    started_at: datetime = datetime(2026, 1, 1, 0, 1, 0, tzinfo=UTC),
    interpreted: bool = True,
) -> int:
    conn = psycopg2.connect(settings.database_dsn())
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO markets (code, quote, base, korean_name, english_name) VALUES (%s, 'KRW', %s, '카바', 'Kava')"
            " ON CONFLICT DO NOTHING",
            (market, market.split("-")[1]),
        )
        cur.execute(
            "INSERT INTO anomalies (market, kind, severity, status, started_at, detected_at, metrics, interpretation,"
            " dedup_key) VALUES (%s, 'pump', %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                market,
                severity,
                status,
                started_at,
                started_at + timedelta(seconds=10),
                Json(
                    {
                        "window_seconds": 10,
                        "price_change_pct": 12.5,
                        "peak_change_pct": 18.2,
                        "value_ratio": 42.0,
                        "value_krw": 52_000_000,
                        "baseline_value_krw": 1_240_000,
                        "buy_share_pct": 91.0,
                        "fills": 140,
                    }
                ),
                None
                if not interpreted
                else Json(
                    {
                        "cause_category": "coordinated_pump",
                        "confidence": "medium",
                        "watch_next": ["reversal below the start price"],
                        "text": "Many buy fills in seconds with value 42x normal: a likely coordinated pump.",
                    }
                ),
                f"test:{market}:{time.time_ns()}",
            ),
        )
        anomaly_id = int(cur.fetchone()[0])
    conn.close()
    return anomaly_id


def _rows(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(settings.database_dsn())
    with conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    conn.close()
    return rows


def _with_channels(settings: Settings, *, slack: str = "", hook: str = "", **extra: Any) -> Settings:
    update: dict[str, Any] = {
        "slack_webhook_url": SecretStr(slack),
        "alert_webhook_url": hook,
        "alert_webhook_secret": SecretStr(SECRET),
        "alert_backoff_seconds": 0.05,
        "alert_backoff_max_seconds": 2.0,
        "alert_timeout_seconds": 2.0,
        "slack_min_severity": "medium",
        "webhook_min_severity": "low",
        # These events sit at a fixed 2026-01-01 event time: delivery mechanics, not the history filter.
        "alert_max_age_seconds": 0,
    }
    update.update(extra)
    return settings.model_copy(update=update)


def test_webhook_that_fails_three_times_then_succeeds_gets_exactly_one_delivery_and_four_logged_attempts(
    scratch_db: Settings,
) -> None:
    anomaly_id = _insert_anomaly(scratch_db)
    with running_receiver([Reply(500), Reply(503), Reply(500)]) as rx:
        settings = _with_channels(scratch_db, hook=rx.path_url("/hook"))
        report = deliver(settings, anomaly_id)
        again = deliver(settings, anomaly_id)  # a redelivered task: must not send again
        statuses = [r.status for r in rx.requests]
    assert report.outcomes == {"webhook": "sent"}
    assert again.outcomes == {"webhook": "already:sent"}
    assert statuses == [500, 503, 500, 200]  # four requests, exactly one delivered
    attempts = _rows(
        scratch_db,
        "SELECT attempt, status, http_status FROM alert_deliveries WHERE anomaly_id = %s AND part = 'alert'"
        " ORDER BY attempt",
        (anomaly_id,),
    )
    assert attempts == [(1, "retrying", 500), (2, "retrying", 503), (3, "retrying", 500), (4, "sent", 200)]
    keys = {r.header(IDEMPOTENCY_HEADER) for r in rx.requests}
    assert keys == {f"anomaly-{anomaly_id}-v1-webhook"}  # the same key on every retry


def test_429_retry_after_is_honoured_and_other_4xx_is_not_retried(scratch_db: Settings) -> None:
    first = _insert_anomaly(scratch_db)
    slept: list[float] = []
    with running_receiver([Reply(429, retry_after="1.5"), Reply(200)]) as rx:
        report = deliver(_with_channels(scratch_db, hook=rx.url), first, sleep=slept.append)
    assert report.outcomes == {"webhook": "sent"}
    assert slept == [1.5]
    second = _insert_anomaly(scratch_db, market="KRW-W")
    with running_receiver([Reply(400, body="bad payload")]) as rx:
        report = deliver(_with_channels(scratch_db, hook=rx.url), second, sleep=slept.append)
        assert len(rx.requests) == 1
    assert report.outcomes == {"webhook": "failed"}
    assert _rows(
        scratch_db,
        "SELECT attempt, status, http_status FROM alert_deliveries WHERE anomaly_id = %s AND part = 'alert'",
        (second,),
    ) == [(1, "failed", 400)]


def test_a_timeout_is_retried_with_backoff(scratch_db: Settings) -> None:
    anomaly_id = _insert_anomaly(scratch_db)
    with running_receiver([Reply(200, delay=1.5)]) as rx:
        settings = _with_channels(scratch_db, hook=rx.url, alert_timeout_seconds=0.5)
        report = deliver(settings, anomaly_id)
    assert report.outcomes == {"webhook": "sent"}
    rows = _rows(
        scratch_db,
        "SELECT attempt, status, error FROM alert_deliveries WHERE anomaly_id = %s AND part = 'alert' ORDER BY attempt",
        (anomaly_id,),
    )
    assert [r[:2] for r in rows] == [(1, "retrying"), (2, "sent")]
    assert "timeout" in rows[0][2]


def test_slack_gets_a_block_kit_message_readable_at_a_glance(scratch_db: Settings) -> None:
    anomaly_id = _insert_anomaly(scratch_db)
    with running_receiver() as rx:
        report = deliver(_with_channels(scratch_db, slack=rx.path_url("/services/T000/B000/XXX")), anomaly_id)
        assert report.outcomes == {"slack": "sent"}
        (req,) = rx.requests
    assert req.path == "/services/T000/B000/XXX"
    assert req.header(
        "Content-Type",
    ).startswith("application/json")
    body = req.json
    assert "KRW-KAVA" in body["text"]
    blocks = body["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context"]
    assert blocks[0]["text"]["type"] == "plain_text" and "KRW-KAVA" in blocks[0]["text"]["text"]
    assert "high" in blocks[0]["text"]["text"]
    fields = {f["text"].split("\n")[0]: f["text"].split("\n", 1)[1] for f in blocks[1]["fields"]}
    assert set(fields) >= {"*Market*", "*Severity*", "*Move*", "*Volume vs normal*", "*Status*"}
    assert "+12.50 %" in fields["*Move*"] and "×42.0" in fields["*Volume vs normal*"]
    assert "카바" in fields["*Market*"]
    assert "coordinated_pump" in blocks[2]["text"]["text"]
    assert "as of 2026-01-01 00:01:10 UTC" in blocks[3]["elements"][0]["text"]
    assert all(len(f["text"]) <= 2000 for f in blocks[1]["fields"])  # Slack's per-field limit


def test_webhook_signature_verifies_at_the_receiver_and_fails_when_tampered(scratch_db: Settings) -> None:
    anomaly_id = _insert_anomaly(scratch_db)
    with running_receiver() as rx:
        deliver(_with_channels(scratch_db, hook=rx.url), anomaly_id)
        (req,) = rx.requests
    ts, sig = req.header(TIMESTAMP_HEADER), req.header(SIGNATURE_HEADER)
    assert ts and sig and sig.startswith("v1=")
    assert verify_signature(SECRET, ts, req.body, sig)
    assert not verify_signature(SECRET, ts, req.body.replace(b"KRW-KAVA", b"KRW-EVIL"), sig)
    assert not verify_signature("wrong-secret", ts, req.body, sig)
    assert not verify_signature(SECRET, str(int(ts) - 3600), req.body, sig)  # replayed an hour later
    body = req.json
    assert body["type"] == "anomaly.opened" and body["version"] == 1
    assert body["anomaly"]["id"] == anomaly_id and body["anomaly"]["metrics"]["value_ratio"] == 42.0
    assert body["idempotency_key"] == req.header(IDEMPOTENCY_HEADER)


def test_minimum_severity_and_mutes_skip_a_channel_without_sending(scratch_db: Settings) -> None:
    low = _insert_anomaly(scratch_db, severity="low")
    muted = _insert_anomaly(scratch_db, market="KRW-DOGE", severity="critical")
    with running_receiver() as slack_rx, running_receiver() as hook_rx:
        settings = _with_channels(scratch_db, slack=slack_rx.url, hook=hook_rx.url, alert_mutes="krw-doge")
        r1 = deliver(settings, low)
        r2 = deliver(settings, muted)
        assert len(slack_rx.requests) == 0  # low < slack minimum (medium); DOGE muted
        assert len(hook_rx.requests) == 1  # low >= webhook minimum (low)
    assert r1.outcomes["slack"].startswith("skipped:below slack minimum severity")
    assert r1.outcomes["webhook"] == "sent"
    assert r2.outcomes == {"slack": "skipped:muted", "webhook": "skipped:muted"}


def test_escalation_and_resolution_are_new_versions_each_delivered_once_per_channel(scratch_db: Settings) -> None:
    anomaly_id = _insert_anomaly(scratch_db, severity="medium")
    with running_receiver() as slack_rx, running_receiver() as hook_rx:
        settings = _with_channels(scratch_db, slack=slack_rx.url, hook=hook_rx.url, slack_min_severity="high")
        deliver(settings, anomaly_id)  # medium: webhook only
        conn = psycopg2.connect(scratch_db.database_dsn())
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE anomalies SET status = 'escalated', severity = 'high' WHERE id = %s", (anomaly_id,))
        deliver(settings, anomaly_id)  # v2 high: both
        with conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE anomalies SET status = 'resolved', resolution = 'reversed', resolved_at = now() WHERE id = %s",
                (anomaly_id,),
            )
        conn.close()
        deliver(settings, anomaly_id)  # v3: both carried it before
        deliver(settings, anomaly_id)
        hook_types = [r.json["type"] for r in hook_rx.requests]
        slack_titles = [r.json["blocks"][0]["text"]["text"] for r in slack_rx.requests]
    assert hook_types == ["anomaly.opened", "anomaly.escalated", "anomaly.resolved"]
    assert len(slack_titles) == 2 and "Escalated" in slack_titles[0] and "Resolved" in slack_titles[1]


def test_concurrent_deliveries_of_one_event_send_it_once(scratch_db: Settings) -> None:
    anomaly_id = _insert_anomaly(scratch_db)
    with running_receiver(default=Reply(200, delay=0.5)) as rx:
        settings = _with_channels(scratch_db, hook=rx.url)
        results: list[str] = []
        threads = [
            threading.Thread(target=lambda: results.append(deliver(settings, anomaly_id).outcomes["webhook"]))
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(rx.requests) == 1
    assert results.count("sent") == 1
    assert all(r in ("sent", "busy", "already:sent") for r in results)


def _delivery_process(settings: Settings, anomaly_id: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "TIMESCALEDB_DBNAME": settings.timescaledb_dbname,
        "TIMESCALEDB_HOST": settings.timescaledb_host,
        "TIMESCALEDB_PORT": str(settings.timescaledb_port),
        "TIMESCALEDB_USER": settings.timescaledb_user,
        "ALERT_WEBHOOK_URL": settings.alert_webhook_url,
        "ALERT_WEBHOOK_SECRET": SECRET,
        "SLACK_WEBHOOK_URL": settings.slack_webhook_url.get_secret_value(),
        "ALERT_BACKOFF_SECONDS": str(settings.alert_backoff_seconds),
        "ALERT_TIMEOUT_SECONDS": str(settings.alert_timeout_seconds),
        "ALERT_MAX_AGE_SECONDS": "0",
    }
    code = (
        "import sys; from alerts.delivery import deliver; from upbit_core.settings import Settings; "
        f"print(deliver(Settings(), {anomaly_id}).as_dict(), flush=True)"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@pytest.mark.slow
def test_a_delivery_process_killed_mid_send_and_restarted_does_not_deliver_twice(scratch_db: Settings) -> None:
    anomaly_id = _insert_anomaly(scratch_db)
    # The receiver takes the request and holds the response: the sender is killed while it waits.
    with running_receiver([Reply(200, delay=20)]) as rx:
        settings = _with_channels(scratch_db, slack=rx.url, alert_timeout_seconds=30)
        proc = _delivery_process(settings, anomaly_id)
        try:
            assert rx.wait_for(1, timeout=30), proc.stderr.read().decode() if proc.poll() is not None else "no request"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == -signal.SIGKILL
        # Restart: a new process (and an in-process call) must not send the event again.
        restarted = _delivery_process(settings, anomaly_id)
        out, err = restarted.communicate(timeout=60)
        assert restarted.returncode == 0, err.decode()
        again = deliver(settings, anomaly_id)
        time.sleep(0.3)
        assert len(rx.requests) == 1
    assert "'slack': 'unknown'" in out.decode()
    assert again.outcomes == {"slack": "already:unknown"}
    claims = _rows(
        scratch_db, "SELECT state, attempts FROM alert_claims WHERE anomaly_id = %s AND part = 'alert'", (anomaly_id,)
    )
    assert claims == [("unknown", 1)]


@pytest.mark.slow
def test_a_delivery_process_killed_during_backoff_resumes_and_delivers_exactly_once(scratch_db: Settings) -> None:
    anomaly_id = _insert_anomaly(scratch_db)
    with running_receiver([Reply(503)]) as rx:
        # A long backoff after the 503: the process is killed while it sleeps, before its second attempt.
        settings = _with_channels(scratch_db, hook=rx.url, alert_backoff_seconds=30)
        proc = _delivery_process(settings, anomaly_id)
        try:
            assert rx.wait_for(1, timeout=30)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if _rows(
                    scratch_db, "SELECT state FROM alert_claims WHERE anomaly_id = %s AND part = 'alert'", (anomaly_id,)
                ) == [("backoff",)]:
                    break
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        report = deliver(settings.model_copy(update={"alert_backoff_seconds": 0.05}), anomaly_id)
        statuses = [r.status for r in rx.requests]
    assert report.outcomes == {"webhook": "sent"}
    assert statuses == [503, 200]
    attempts = _rows(
        scratch_db,
        "SELECT attempt, status FROM alert_deliveries WHERE anomaly_id = %s AND part = 'alert' ORDER BY attempt",
        (anomaly_id,),
    )
    assert attempts == [(1, "retrying"), (2, "sent")]


def test_facts_go_out_at_once_and_the_interpretation_follows_as_one_second_message_per_channel(
    scratch_db: Settings,
) -> None:
    anomaly_id = _insert_anomaly(scratch_db, interpreted=False)
    with running_receiver() as slack_rx, running_receiver() as hook_rx:
        settings = _with_channels(scratch_db, slack=slack_rx.url, hook=hook_rx.url)
        first = deliver(settings, anomaly_id)  # the scan's facts: no model in the way
        early = deliver(settings, anomaly_id, part="reading")  # no reading yet: nothing to follow up with
        conn = psycopg2.connect(scratch_db.database_dsn())
        with conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE anomalies SET interpretation = %s WHERE id = %s",
                (
                    Json({"text": "A crowd of market buys: a likely coordinated pump.", "confidence": "high"}),
                    anomaly_id,
                ),
            )
        conn.close()
        follow = deliver(settings, anomaly_id, part="reading")
        again = deliver(settings, anomaly_id, part="reading")
        slack_msgs = [r.json for r in slack_rx.requests]
        hook_msgs = [r.json for r in hook_rx.requests]
    assert first.outcomes == {"slack": "sent", "webhook": "sent"}
    assert early.outcomes == {"slack": "skipped:no interpretation", "webhook": "skipped:no interpretation"}
    assert follow.outcomes == {"slack": "sent", "webhook": "sent"}
    assert again.outcomes == {"slack": "already:sent", "webhook": "already:sent"}
    assert len(slack_msgs) == 2 and len(hook_msgs) == 2
    assert "Interpretation pending: it follows" in slack_msgs[0]["blocks"][2]["text"]["text"]
    assert slack_msgs[1]["blocks"][0]["text"]["text"].startswith("🟧 Interpretation: KRW-KAVA")
    assert "coordinated pump" in slack_msgs[1]["blocks"][2]["text"]["text"]
    assert [m["part"] for m in hook_msgs] == ["alert", "reading"]
    assert hook_msgs[1]["anomaly"]["interpretation"]["confidence"] == "high"
    assert hook_msgs[1]["idempotency_key"] == f"anomaly-{anomaly_id}-v1-webhook-reading"


def test_an_interpretation_ready_before_the_alert_went_out_is_sent_in_one_message_not_two(
    scratch_db: Settings,
) -> None:
    anomaly_id = _insert_anomaly(scratch_db)  # interpreted already (a catch-up scan, a slow alerts queue)
    with running_receiver() as slack_rx:
        settings = _with_channels(scratch_db, slack=slack_rx.url)
        via_reading = deliver(settings, anomaly_id, part="reading")
        via_alert = deliver(settings, anomaly_id)
        texts = [r.json["blocks"][2]["text"]["text"] for r in slack_rx.requests]
    assert via_reading.outcomes == {"slack": "already:skipped"}  # it sent the alert first, with the reading in it
    assert via_alert.outcomes == {"slack": "already:sent"}
    assert len(texts) == 1 and "coordinated pump" in texts[0]


def test_replayed_history_older_than_the_max_age_is_stored_but_not_pushed(scratch_db: Settings) -> None:
    old = _insert_anomaly(scratch_db, started_at=datetime.now(UTC) - timedelta(minutes=30))
    live = _insert_anomaly(scratch_db, market="KRW-DOGE", started_at=datetime.now(UTC) - timedelta(seconds=20))
    with running_receiver() as slack_rx, running_receiver() as hook_rx:
        settings = _with_channels(scratch_db, slack=slack_rx.url, hook=hook_rx.url, alert_max_age_seconds=600)
        r_old = deliver(settings, old)
        r_old_reading = deliver(settings, old, part="reading")
        r_live = deliver(settings, live)
        markets = [r.json["anomaly"]["market"] for r in hook_rx.requests]
        slack_count = len(slack_rx.requests)
    assert all(v.startswith("skipped:history: event time") for v in r_old.outcomes.values()), r_old.outcomes
    assert all(v == "already:skipped" for v in r_old_reading.outcomes.values()), r_old_reading.outcomes
    assert r_live.outcomes == {"slack": "sent", "webhook": "sent"}
    assert markets == ["KRW-DOGE"] and slack_count == 1
    # Stored and visible: the old event is in the table, its skip is logged with the reason.
    assert _rows(scratch_db, "SELECT status FROM anomalies WHERE id = %s", (old,)) == [("open",)]
    logged = _rows(
        scratch_db, "SELECT status, error FROM alert_deliveries WHERE anomaly_id = %s AND part = 'alert'", (old,)
    )
    assert len(logged) == 2 and all(s == "skipped" and "ALERT_MAX_AGE_SECONDS" in e for s, e in logged)
