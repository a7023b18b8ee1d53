"""What every HTTP surface of the platform (dashboard, MCP) checks before its app runs: the Host and Origin
allow-list (DNS rebinding: a page on evil.example that resolves its name to 127.0.0.1 must not read the API), the
bearer scheme in any case, and a per-client rate limiter.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind_host: str, configured: str) -> frozenset[str]:
    """Host names a request may address: loopback names, the bind address when it is a specific one, and the
    comma-separated `configured` list (e.g. WEB_ALLOWED_HOSTS=dash.example.com). `*` allows any (not advised)."""
    names = set(LOOPBACK_NAMES)
    if bind_host not in WILDCARD_BINDS:
        names.add(bind_host.strip("[]").lower())
    names.update(h.strip().lower() for h in configured.split(",") if h.strip())
    return frozenset(names)


def _host_only(value: str) -> str:
    """`example.com:8000` → `example.com`; `[::1]:8000` → `::1`."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def bearer_token(authorization: str) -> str | None:
    """The credential of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 7235)."""
    scheme, _, credential = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    return None


class HostOriginGuard:
    """ASGI middleware: refuse (421 / 403) a request whose Host, or whose Origin when sent, is not allowed."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str], open_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.hosts = frozenset(hosts)
        self.any_host = "*" in self.hosts
        self.open_paths = frozenset(open_paths)

    def _allowed(self, host: str) -> bool:
        return self.any_host or host in self.hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in self.open_paths:
            await self.app(scope, receive, send)
            return
        host = origin = ""
        for key, value in scope.get("headers", []):
            if key == b"host":
                host = value.decode("latin-1")
            elif key == b"origin":
                origin = value.decode("latin-1")
        if not self._allowed(_host_only(host)):
            await _refuse(send, 421, "misdirected request", f"Host {host[:100]!r} is not served here")
            return
        if origin and origin != "null" and not self._allowed((urlsplit(origin).hostname or "").lower()):
            await _refuse(send, 403, "forbidden", f"Origin {origin[:100]!r} is not allowed")
            return
        if origin == "null":
            await _refuse(send, 403, "forbidden", "an opaque (null) Origin is not allowed")
            return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, error: str, detail: str) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


class RateLimiter:
    """A token bucket per client key: `per_minute` requests a minute, bursts up to `burst`. Thread-safe; keeps at
    most `max_clients` buckets (the oldest are dropped), so a flood of addresses cannot grow it without bound."""

    def __init__(self, per_minute: float, burst: int, *, max_clients: int = 10_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """0 when the request may go ahead; otherwise the seconds until it may."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate if self.rate > 0 else 3600.0
            self._buckets[key] = (tokens, now)  # re-inserted last: dict order is recency
            while len(self._buckets) > self.max_clients:
                del self._buckets[next(iter(self._buckets))]
            return wait
