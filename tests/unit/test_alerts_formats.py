"""Alert formats without a network: webhook signatures, Retry-After parsing, Slack message limits."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

from alerts import slack, webhook
from alerts.event import AlertEvent
from alerts.transport import parse_retry_after


def _event(**kw: object) -> AlertEvent:
    values: dict[str, object] = {
        "id": 7,
        "market": "KRW-W",
        "korean_name": "웜홀",
        "english_name": "Wormhole",
        "kind": "pump",
        "severity": "critical",
        "status": "open",
        "started_at": datetime(2026, 1, 1, 0, 1, tzinfo=UTC),
        "detected_at": datetime(2026, 1, 1, 0, 1, 10, tzinfo=UTC),
        "resolved_at": None,
        "resolution": None,
        "metrics": {"price_change_pct": 21.3, "window_seconds": 60, "value_ratio": 88.0, "value_krw": 3.1e8},
        "interpretation": None,
    }
    values.update(kw)
    return AlertEvent(**values)  # type: ignore[arg-type]


def test_a_signature_verifies_only_for_the_same_secret_body_and_a_fresh_timestamp() -> None:
    body = webhook.encode(_event())
    headers = webhook.headers(_event(), body, "s3cret", now=1_700_000_000)
    ts, sig = headers[webhook.TIMESTAMP_HEADER], headers[webhook.SIGNATURE_HEADER]
    assert webhook.verify_signature("s3cret", ts, body, sig, now=1_700_000_100)
    assert not webhook.verify_signature("s3cret", ts, body + b" ", sig, now=1_700_000_100)
    assert not webhook.verify_signature("other", ts, body, sig, now=1_700_000_100)
    assert not webhook.verify_signature("s3cret", ts, body, sig, now=1_700_000_000 + 301)
    assert not webhook.verify_signature("s3cret", "not-a-number", body, sig)


def test_the_webhook_body_is_identical_on_every_retry_and_keyed_per_version() -> None:
    assert webhook.encode(_event()) == webhook.encode(_event())
    assert webhook.build_body(_event())["idempotency_key"] == "anomaly-7-v1-webhook"
    resolved = webhook.build_body(_event(status="resolved", resolution="reversed"))
    assert resolved["type"] == "anomaly.resolved" and resolved["idempotency_key"] == "anomaly-7-v3-webhook"


def test_retry_after_accepts_seconds_and_http_dates_and_ignores_garbage() -> None:
    assert parse_retry_after("12") == 12.0
    assert (
        parse_retry_after(
            format_datetime(datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC), usegmt=True),
            now=datetime(2026, 1, 1, tzinfo=UTC).timestamp(),
        )
        == 30.0
    )
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("-5") == 0.0


def test_slack_message_stays_within_block_kit_limits_with_a_huge_interpretation() -> None:
    event = _event(interpretation={"text": "가" * 10_000, "cause_category": "x" * 500, "watch_next": ["y" * 300] * 9})
    msg = slack.build_message(event)
    assert len(msg["blocks"][0]["text"]["text"]) <= 150
    assert len(msg["blocks"][2]["text"]["text"]) <= 3000
    assert len(msg["text"]) <= 3000
    assert "pending" in slack.build_message(_event())["blocks"][2]["text"]["text"].lower()


def test_a_market_wide_event_reads_as_markets_moving_together() -> None:
    event = _event(
        market="MARKET",
        kind="market_move",
        korean_name="",
        metrics={
            "markets_moving": 120,
            "markets_liquid": 150,
            "direction": "down",
            "median_change_pct": -3.2,
            "window_seconds": 60,
            "value_ratio": 3.5,
        },
    )
    fields = slack.build_message(event)["blocks"][1]["fields"]
    move = next(f["text"] for f in fields if f["text"].startswith("*Move*"))
    assert "120 of 150 markets down" in move and "-3.20 %" in move
