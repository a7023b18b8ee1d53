"""Live updates: one poller reads the analytics layer for all browsers and fans changes out as server-sent events.

However many pages are open, the database sees one snapshot read per `WEB_REFRESH_SECONDS` (and none while no page
is open). A part (overview, markets, anomalies, summary) is sent only when its content changed; a subscriber that
falls behind keeps only the newest version of each part, so a slow browser never makes the server buffer.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

import anyio.to_thread

from dashboard.data import LiveSnapshot

log = logging.getLogger(__name__)

# Wall-clock derived fields change on every read; they are left out of the change test (the browser ages as_of).
_VOLATILE = {"lag_seconds", "age_seconds"}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def signature(payload: dict[str, Any]) -> str:
    blob = json.dumps(_stable(payload), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


class Subscription:
    """One browser's queue: the newest pending JSON text per event name."""

    def __init__(self) -> None:
        self._pending: dict[str, str] = {}
        self._ready = asyncio.Event()
        self.closed = False

    def push(self, event: str, data: str) -> None:
        self._pending[event] = data
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def next(self) -> list[tuple[str, str]] | None:
        """The pending events (oldest part first), waiting for at least one; None once closed."""
        await self._ready.wait()
        if self.closed:
            return None
        self._ready.clear()
        batch = list(self._pending.items())
        self._pending.clear()
        return batch


class LiveHub:
    def __init__(self, read: Callable[[], LiveSnapshot], interval: float) -> None:
        self._read = read
        self._interval = interval
        self._subs: set[Subscription] = set()
        self._latest: dict[str, tuple[str, str]] = {}  # event → (signature, json)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.polls = 0
        self.errors = 0

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dashboard-live-hub")

    async def stop(self) -> None:
        for sub in list(self._subs):
            sub.close()
        self._subs.clear()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def subscribe(self) -> Subscription:
        sub = Subscription()
        for event, (_, data) in self._latest.items():
            sub.push(event, data)
        self._subs.add(sub)
        self._wake.set()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    async def _run(self) -> None:
        failures = 0
        while True:
            if not self._subs:
                # Idle: forget the cache so the next page does not get an old snapshot first.
                self._latest.clear()
                self._wake.clear()
                await self._wake.wait()
            try:
                snapshot = await anyio.to_thread.run_sync(self._read)
            except Exception as exc:  # noqa: BLE001 - the feed must survive a DB restart; browsers keep the last data
                failures += 1
                self.errors += 1
                if failures == 1 or failures % 30 == 0:
                    log.warning("dashboard live read failed failures=%s error=%s", failures, type(exc).__name__)
                self._publish("status", {"ok": False, "error": "database unavailable, retrying"})
                await asyncio.sleep(min(self._interval * failures, 30.0))
                continue
            if failures:
                log.info("dashboard live read recovered after failures=%s", failures)
                failures = 0
            self.polls += 1
            self._publish("status", {"ok": True})
            for part in ("overview", "markets", "anomalies", "summary"):
                self._publish(part, getattr(snapshot, part).model_dump(mode="json"))
            await asyncio.sleep(self._interval)

    def _publish(self, event: str, payload: dict[str, Any]) -> None:
        sig = signature(payload)
        previous = self._latest.get(event)
        if previous is not None and previous[0] == sig:
            return
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        self._latest[event] = (sig, data)
        for sub in self._subs:
            sub.push(event, data)
