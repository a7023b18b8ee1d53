"""Generic signed webhook: a documented JSON body, HMAC-SHA256 signature and timestamp headers, idempotency key.

Body (UTF-8 JSON, identical on every retry of one event version):
    {"type": "anomaly.opened" | "anomaly.escalated" | "anomaly.resolved",
     "idempotency_key": "anomaly-<id>-v<version>-webhook[-reading]", "version": 1|2|3,
     "part": "alert" (facts, sent as soon as the event opens) | "reading" (the same event with its interpretation,
             sent as a follow-up when the interpretation arrives; skipped when the alert already carried it),
     "anomaly": {"id", "market", "korean_name", "kind", "severity", "status", "started_at", "detected_at",
                 "resolved_at", "resolution", "metrics": {...units in the key names...}, "interpretation": {...}|null,
                 "numbers_verified": true|false|null (false: the interpretation's figures failed verification)}}
Headers:
    X-Upbit-LLM-Timestamp: unix seconds when this attempt was signed
    X-Upbit-LLM-Signature: "v1=" + hex(HMAC_SHA256(secret, "<timestamp>." + raw body))
    Idempotency-Key: same as the body's idempotency_key (receivers drop a key they have seen)
Receivers verify with `verify_signature` (constant-time compare, 5-minute tolerance against replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from alerts.event import AlertEvent

SIGNATURE_HEADER = "X-Upbit-LLM-Signature"
TIMESTAMP_HEADER = "X-Upbit-LLM-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_TYPES = {1: "anomaly.opened", 2: "anomaly.escalated", 3: "anomaly.resolved"}


def build_body(event: AlertEvent) -> dict[str, Any]:
    return {
        "type": EVENT_TYPES.get(event.version, "anomaly.opened"),
        "idempotency_key": event.idempotency_key("webhook"),
        "version": event.version,
        "part": event.part,
        "anomaly": {
            "id": event.id,
            "market": event.market,
            "korean_name": event.korean_name,
            "kind": event.kind,
            "severity": event.severity,
            "status": event.status,
            "started_at": event.started_at.isoformat(),
            "detected_at": event.detected_at.isoformat(),
            "resolved_at": event.resolved_at.isoformat() if event.resolved_at else None,
            "resolution": event.resolution,
            "metrics": event.metrics,
            "interpretation": event.interpretation,
            "numbers_verified": event.numbers_verified,
        },
    }


def encode(event: AlertEvent) -> bytes:
    return json.dumps(build_body(event), ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def headers(event: AlertEvent, body: bytes, secret: str, *, now: float | None = None) -> dict[str, str]:
    ts = int(now if now is not None else time.time())
    out = {
        "Content-Type": "application/json; charset=utf-8",
        TIMESTAMP_HEADER: str(ts),
        IDEMPOTENCY_HEADER: event.idempotency_key("webhook"),
    }
    if secret:
        out[SIGNATURE_HEADER] = sign(secret, ts, body)
    return out


def verify_signature(
    secret: str, timestamp: str, body: bytes, signature: str, *, tolerance_s: int = 300, now: float | None = None
) -> bool:
    """What a receiver does: recompute the HMAC over "<timestamp>.<body>", compare in constant time, and refuse
    timestamps outside the tolerance (a captured request cannot be replayed later)."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = now if now is not None else time.time()
    if abs(current - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature or "")
