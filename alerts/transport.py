"""One HTTP POST of an alert and how to judge its outcome: sent, retry (timeout, 5xx, 429) or give up."""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx


@dataclass(frozen=True)
class SendOutcome:
    ok: bool
    retryable: bool
    http_status: int | None
    error: str | None
    retry_after: float | None  # seconds the server asked us to wait (Retry-After), if any
    duration_ms: int


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date. Garbage → None (use our own backoff)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> SendOutcome:
    """POST once. 2xx → ok; timeouts, connection errors, 5xx and 429 → retryable; any other 4xx → final."""
    started = time.perf_counter()
    try:
        resp = client.post(url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        return SendOutcome(False, True, None, f"timeout: {type(exc).__name__}", None, _ms(started))
    except httpx.TransportError as exc:
        return SendOutcome(
            False, True, None, f"connection error: {type(exc).__name__}: {exc}"[:300], None, _ms(started)
        )
    status = resp.status_code
    if 200 <= status < 300:
        return SendOutcome(True, False, status, None, None, _ms(started))
    text = resp.text[:200].replace("\n", " ")
    retryable = status == 429 or status >= 500
    return SendOutcome(
        False,
        retryable,
        status,
        f"HTTP {status}: {text}",
        parse_retry_after(resp.headers.get("Retry-After")),
        _ms(started),
    )


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
