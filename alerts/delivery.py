"""Deliver one anomaly event to every configured channel, once per channel and status version, with retries.

Guarantees (docs/anomaly-alerts.md):
- Once: before the first request a claim row (anomaly, channel, version) is inserted; the sender holds a session
  advisory lock on its key while sending, so a second worker skips it. A claim is only ever sent by the holder.
- Restarts: the claim's state says where a dead worker stopped. `backoff` (last attempt known failed) → resume;
  `in_flight` (died while a request was on the wire, outcome unknown) → not re-sent, marked `unknown`: a possible
  miss is preferred to a certain duplicate. The window is one request (≤ ALERT_TIMEOUT_SECONDS).
- Retries: timeouts, connection errors, 5xx and 429 (Retry-After honoured, capped) with exponential backoff up to
  ALERT_MAX_ATTEMPTS; any other 4xx is final. Every attempt is a row in alert_deliveries.
- Facts first: each status version goes out in two parts per channel. `alert` (the detector's facts) is sent the
  moment the scan opens the event; `reading` (the interpretation) follows when the model is done — skipped when the
  alert already carried it, or when the alert itself was skipped. Each part is its own claim, sent once.
- Filters: per-channel minimum severity (SLACK_MIN_SEVERITY / WEBHOOK_MIN_SEVERITY), muted markets (ALERT_MUTES)
  and history (ALERT_MAX_AGE_SECONDS: a version whose event time is older than that — a replayed file, a backfill,
  a rescan — is stored and listed but not pushed to anyone). The version delivered is the event's status when the
  task runs: an event that opened and resolved within one catch-up scan is announced once, as resolved.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import httpx
import psycopg2.extensions

from alerts import slack, webhook
from alerts.event import PART_ALERT, PART_READING, AlertEvent, load_event
from alerts.transport import SendOutcome, post
from db.connection import connect
from upbit_core.settings import Settings
from upbit_core.severity import severity_rank

log = logging.getLogger(__name__)

LOCK_CLASS = 0x414C5254 & 0x7FFFFFFF  # "ALRT": advisory-lock namespace for delivery claims
TERMINAL = frozenset({"sent", "failed", "unknown", "skipped"})


@dataclass
class DeliveryReport:
    anomaly_id: int
    outcomes: dict[str, str] = field(default_factory=dict)  # channel → sent / skipped:<why> / failed / busy / ...

    def as_dict(self) -> dict[str, object]:
        return {"anomaly_id": self.anomaly_id, "outcomes": dict(self.outcomes)}


@dataclass(frozen=True)
class Channel:
    name: str
    url: str
    min_severity: str
    encode: Callable[[AlertEvent], bytes]
    headers: Callable[[AlertEvent, bytes], dict[str, str]]


def channels(settings: Settings) -> list[Channel]:
    """The configured channels; an empty URL switches a channel off."""
    out: list[Channel] = []
    slack_url = settings.slack_webhook_url.get_secret_value()
    if slack_url:
        out.append(
            Channel("slack", slack_url, settings.slack_min_severity, slack.encode, lambda e, _body: slack.headers(e))
        )
    if settings.alert_webhook_url:
        secret = settings.alert_webhook_secret.get_secret_value()
        if not secret and settings.environment == "production":
            # Settings refuse this at start-up; kept here too so no code path sends an unsigned alert in production.
            log.error("webhook channel off: ALERT_WEBHOOK_SECRET is empty and production sends signed webhooks only")
            return out
        out.append(
            Channel(
                "webhook",
                settings.alert_webhook_url,
                settings.webhook_min_severity,
                webhook.encode,
                lambda e, b: webhook.headers(e, b, secret),
            )
        )
    return out


def deliver(
    settings: Settings,
    anomaly_id: int,
    *,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
    part: str = PART_ALERT,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DeliveryReport:
    """Deliver one part (`alert`: the facts; `reading`: the interpretation follow-up) of the event's current version
    to every channel. Safe to call any number of times, concurrently, in any order of parts."""
    if part not in (PART_ALERT, PART_READING):
        raise ValueError(f"unknown alert part {part!r}: expected {PART_ALERT!r} or {PART_READING!r}")
    report = DeliveryReport(anomaly_id)
    chans = channels(settings)
    if not chans:
        report.outcomes["-"] = "skipped:no channel configured"
        return report
    conn = connect(settings, application_name="upbit-llm-alerts")
    conn.autocommit = True
    own_client = client is None
    http = client or httpx.Client(timeout=settings.alert_timeout_seconds, headers={"User-Agent": "upbit-llm-alerts/1"})
    try:
        event = load_event(conn, anomaly_id)
        if event is None:
            report.outcomes["-"] = "skipped:unknown anomaly id"
            log.warning("alert skipped anomaly_id=%s reason=unknown id", anomaly_id)
            return report
        for chan in chans:
            if part == PART_ALERT:
                report.outcomes[chan.name] = _deliver_channel(conn, settings, http, chan, event, sleep, now)
            else:
                report.outcomes[chan.name] = _deliver_reading(conn, settings, http, chan, event, sleep, now)
    finally:
        if own_client:
            http.close()
        conn.close()
    return report


def version_event_time(event: AlertEvent) -> datetime:
    """Event time of the version being delivered: its resolution, its last escalation, or its detection."""
    if event.resolved_at is not None:
        return event.resolved_at
    if event.status == "escalated":
        detail = event.metrics.get("detail")
        escalations = detail.get("escalations") if isinstance(detail, dict) else None
        if isinstance(escalations, list) and escalations:
            try:
                return datetime.fromtimestamp(float(escalations[-1][0]) / 1000, UTC)
            except (TypeError, ValueError, IndexError):
                pass
    return event.detected_at


def _skip_reason(settings: Settings, chan: Channel, event: AlertEvent, now: datetime) -> str:
    if event.market in settings.muted_markets:
        return "muted"
    if severity_rank(event.severity) < severity_rank(chan.min_severity):
        return f"below {chan.name} minimum severity {chan.min_severity}"
    max_age = settings.alert_max_age_seconds
    if max_age > 0:
        age = (now - version_event_time(event)).total_seconds()
        if age > max_age:
            return f"history: event time {age:,.0f} s old (ALERT_MAX_AGE_SECONDS={max_age})"
    return ""


def _log_attempt(
    cur: psycopg2.extensions.cursor,
    event: AlertEvent,
    chan: Channel,
    key: str,
    attempt: int,
    status: str,
    outcome: SendOutcome | None,
    error: str | None = None,
) -> None:
    cur.execute(
        "INSERT INTO alert_deliveries (anomaly_id, channel, idempotency_key, attempt, status, http_status, error,"
        " version, duration_ms, part) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            event.id,
            chan.name,
            key,
            attempt,
            status,
            outcome.http_status if outcome else None,
            error if error is not None else (outcome.error if outcome else None),
            event.version,
            outcome.duration_ms if outcome else None,
            event.part,
        ),
    )


def _set_state(cur: psycopg2.extensions.cursor, key: str, state: str, attempts: int | None = None) -> None:
    if attempts is None:
        cur.execute("UPDATE alert_claims SET state = %s, updated_at = now() WHERE idempotency_key = %s", (state, key))
    else:
        cur.execute(
            "UPDATE alert_claims SET state = %s, attempts = %s, updated_at = now() WHERE idempotency_key = %s",
            (state, attempts, key),
        )


def _deliver_channel(
    conn: psycopg2.extensions.connection,
    settings: Settings,
    http: httpx.Client,
    chan: Channel,
    event: AlertEvent,
    sleep: Callable[[float], None],
    now: Callable[[], datetime],
) -> str:
    key = event.idempotency_key(chan.name)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO alert_claims (anomaly_id, channel, version, idempotency_key, state, part) VALUES (%s, %s, %s,"
            " %s, 'pending', %s) ON CONFLICT DO NOTHING RETURNING 1",
            (event.id, chan.name, event.version, key, event.part),
        )
        fresh = cur.fetchone() is not None
        if fresh:
            reason = _skip_reason(settings, chan, event, now())
            if event.part == PART_ALERT and (reason or event.interpretation):
                # The follow-up has nothing to add: the alert carries the reading already, or was not sent at all.
                _close_reading(cur, event, chan, reason or "the alert carried the interpretation")
            if reason:
                _set_state(cur, key, "skipped")
                _log_attempt(cur, event, chan, key, 0, "skipped", None, reason)
                log.info("alert skipped anomaly_id=%s channel=%s reason=%s", event.id, chan.name, reason)
                return f"skipped:{reason}"
        cur.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_CLASS, key))
        row = cur.fetchone()
        if not row or not row[0]:
            return "busy"  # another worker is sending this very claim right now
        try:
            cur.execute("SELECT state, attempts FROM alert_claims WHERE idempotency_key = %s", (key,))
            state, attempts = cur.fetchone()  # type: ignore[misc]
            if state in TERMINAL:
                return f"already:{state}"
            if state == "in_flight":
                # The previous holder died with a request on the wire: it may have arrived. Never send twice.
                _set_state(cur, key, "unknown")
                _log_attempt(
                    cur,
                    event,
                    chan,
                    key,
                    int(attempts),
                    "failed",
                    None,
                    "outcome unknown: the sender stopped while this request was in flight; not re-sent "
                    "(a duplicate alert is worse than a possibly missed one)",
                )
                log.warning("alert outcome unknown anomaly_id=%s channel=%s attempt=%s", event.id, chan.name, attempts)
                return "unknown"
            return _send_loop(cur, settings, http, chan, event, key, int(attempts), sleep)
        finally:
            cur.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (LOCK_CLASS, key))


def _close_reading(cur: psycopg2.extensions.cursor, event: AlertEvent, chan: Channel, why: str) -> None:
    reading = replace(event, part=PART_READING)
    key = reading.idempotency_key(chan.name)
    cur.execute(
        "INSERT INTO alert_claims (anomaly_id, channel, version, idempotency_key, state, part) VALUES (%s, %s, %s, %s,"
        " 'skipped', %s) ON CONFLICT DO NOTHING RETURNING 1",
        (event.id, chan.name, event.version, key, PART_READING),
    )
    if cur.fetchone() is not None:
        _log_attempt(cur, reading, chan, key, 0, "skipped", None, why)


def _deliver_reading(
    conn: psycopg2.extensions.connection,
    settings: Settings,
    http: httpx.Client,
    chan: Channel,
    event: AlertEvent,
    sleep: Callable[[float], None],
    now: Callable[[], datetime],
) -> str:
    """The interpretation follow-up. The facts go first: if the alert part was never sent (its task has not run yet),
    send it now — it then carries the reading and the follow-up is skipped; if another worker is sending it, wait
    (bounded) so the follow-up never arrives before the alert it follows."""
    if not event.interpretation:
        return "skipped:no interpretation"
    alert = replace(event, part=PART_ALERT)
    first = _deliver_channel(conn, settings, http, chan, alert, sleep, now)
    if first == "busy":
        deadline = time.monotonic() + settings.alert_timeout_seconds * settings.alert_max_attempts
        with conn.cursor() as cur:
            while time.monotonic() < deadline:
                cur.execute(
                    "SELECT state FROM alert_claims WHERE idempotency_key = %s", (alert.idempotency_key(chan.name),)
                )
                row = cur.fetchone()
                if row is None or row[0] in TERMINAL:
                    break
                sleep(0.2)
    reading = replace(event, part=PART_READING)
    return _deliver_channel(conn, settings, http, chan, reading, sleep, now)


def _backoff(settings: Settings, attempt: int, outcome: SendOutcome) -> float:
    if outcome.retry_after is not None:
        return min(outcome.retry_after, settings.alert_backoff_max_seconds)
    return min(settings.alert_backoff_seconds * (2 ** (attempt - 1)), settings.alert_backoff_max_seconds)


def _send_loop(
    cur: psycopg2.extensions.cursor,
    settings: Settings,
    http: httpx.Client,
    chan: Channel,
    event: AlertEvent,
    key: str,
    attempts: int,
    sleep: Callable[[float], None],
) -> str:
    body = chan.encode(event)
    while True:
        attempt = attempts + 1
        _set_state(cur, key, "in_flight", attempt)  # committed (autocommit) before the request leaves
        outcome = post(http, chan.url, body, chan.headers(event, body))
        attempts = attempt
        if outcome.ok:
            _log_attempt(cur, event, chan, key, attempt, "sent", outcome)
            _set_state(cur, key, "sent")
            log.info(
                "alert sent anomaly_id=%s channel=%s version=%s attempt=%s", event.id, chan.name, event.version, attempt
            )
            return "sent"
        if outcome.retryable and attempt < settings.alert_max_attempts:
            _log_attempt(cur, event, chan, key, attempt, "retrying", outcome)
            _set_state(cur, key, "backoff")
            delay = _backoff(settings, attempt, outcome)
            log.info(
                "alert retry anomaly_id=%s channel=%s attempt=%s status=%s delay_s=%.2f",
                event.id,
                chan.name,
                attempt,
                outcome.http_status,
                delay,
            )
            sleep(delay)
            continue
        _log_attempt(cur, event, chan, key, attempt, "failed", outcome)
        _set_state(cur, key, "failed")
        log.warning(
            "alert failed anomaly_id=%s channel=%s attempt=%s status=%s error=%s — check the %s URL and receiver",
            event.id,
            chan.name,
            attempt,
            outcome.http_status,
            outcome.error,
            chan.name,
        )
        return "failed"
