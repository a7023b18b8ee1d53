"""Slack text built from data we do not control (market names, model output) reaches Slack inert, and production
never sends an unsigned webhook. Real HTTP receiver and a scratch database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import psycopg2
import pytest
from psycopg2.extras import Json
from pydantic import SecretStr

from alerts.delivery import channels, deliver
from tests.support.receivers import running_receiver
from upbit_core.settings import Settings

pytestmark = pytest.mark.integration

HOSTILE_NAME = "<!channel> <@U123> & <https://evil.example|KRW-BTC 공지>"
HOSTILE_TEXT = "Buy now <!here> <https://evil.example/login|upbit.com> & <#C1>"


def _hostile_anomaly(settings: Settings) -> int:
    conn = psycopg2.connect(settings.database_dsn())
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO markets (code, quote, base, korean_name, english_name) VALUES ('KRW-EVIL', 'KRW', 'EVIL', %s,"
            " %s)",
            (HOSTILE_NAME, HOSTILE_NAME),
        )
        cur.execute(
            "INSERT INTO anomalies (market, kind, severity, status, started_at, detected_at, metrics, interpretation,"
            " dedup_key) VALUES ('KRW-EVIL', 'pump', 'high', 'open', %s, %s, %s, %s, 'hostile:1') RETURNING id",
            (
                datetime(2026, 1, 1, 0, 1, tzinfo=UTC),
                datetime(2026, 1, 1, 0, 1, 10, tzinfo=UTC),
                Json({"window_seconds": 10, "price_change_pct": 12.5, "value_ratio": 42.0, "fills": 140}),
                Json({"cause_category": "coordinated_pump", "confidence": "medium", "text": HOSTILE_TEXT}),
            ),
        )
        anomaly_id = int(cur.fetchone()[0])
    conn.close()
    return anomaly_id


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_slack_receives_market_names_and_model_text_with_control_characters_escaped(scratch_db: Settings) -> None:
    anomaly_id = _hostile_anomaly(scratch_db)
    with running_receiver() as rx:
        settings = scratch_db.model_copy(
            update={"slack_webhook_url": SecretStr(rx.url), "alert_backoff_seconds": 0, "alert_max_age_seconds": 0}
        )
        report = deliver(settings, anomaly_id)
        body = json.loads(rx.requests[0].body)
    assert report.outcomes == {"slack": "sent"}
    texts = _strings(body)
    for text in texts:
        assert "<" not in text and ">" not in text, text  # no mention, channel ping or link can be formed
    joined = "\n".join(texts)
    assert "&lt;!channel&gt;" in joined and "&lt;https://evil.example/login|upbit.com&gt;" in joined
    assert "&amp;" in joined


def test_production_refuses_an_unsigned_webhook_and_sends_a_signed_one(scratch_db: Settings) -> None:
    with pytest.raises(ValueError, match="ALERT_WEBHOOK_SECRET"):
        Settings(  # type: ignore[call-arg]
            _env_file=None, environment="production", alert_webhook_url="http://127.0.0.1:9/hook"
        )
    unsigned = scratch_db.model_copy(
        update={"environment": "production", "alert_webhook_url": "http://127.0.0.1:9/hook"}
    )
    assert channels(unsigned) == []  # even a settings object built around the validator sends nothing
    signed = unsigned.model_copy(update={"alert_webhook_secret": SecretStr("a-real-secret")})
    assert [c.name for c in channels(signed)] == ["webhook"]
