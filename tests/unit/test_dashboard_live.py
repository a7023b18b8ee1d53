"""The live hub: one reader for all browsers, only changed parts sent, slow browsers coalesced, idle when unwatched."""

from __future__ import annotations

import asyncio
from typing import Any

from dashboard.live import LiveHub, Subscription, signature


class Snap:
    """Stands in for dashboard.data.LiveSnapshot: four parts with model_dump()."""

    class Part:
        def __init__(self, value: dict[str, Any]) -> None:
            self.value = value

        def model_dump(self, mode: str = "json") -> dict[str, Any]:
            return self.value

    def __init__(self, n: int, lag: float = 1.0, anomalies: int = 0) -> None:
        fresh = {"as_of": f"2026-01-01T00:00:{n:02d}Z", "lag_seconds": lag}
        self.overview = self.Part({"markets": 3, "n": n, "freshness": fresh})
        self.markets = self.Part({"items": [n], "freshness": fresh})
        self.anomalies = self.Part({"items": list(range(anomalies)), "freshness": fresh})
        self.summary = self.Part({"found": False, "age_seconds": lag})


async def _drain(sub: Subscription, timeout: float = 1.0) -> dict[str, str]:
    got: dict[str, str] = {}
    try:
        while True:
            batch = await asyncio.wait_for(sub.next(), timeout)
            if batch is None:
                return got
            got.update(batch)
    except TimeoutError:
        return got


def test_signature_ignores_wall_clock_fields_but_not_data() -> None:
    a = {"x": 1, "freshness": {"as_of": "t", "lag_seconds": 1.0}}
    b = {"x": 1, "freshness": {"as_of": "t", "lag_seconds": 9.0}}
    c = {"x": 2, "freshness": {"as_of": "t", "lag_seconds": 1.0}}
    assert signature(a) == signature(b) != signature(c)


def test_hub_sends_every_part_first_then_only_parts_that_changed() -> None:
    reads: list[Snap] = [Snap(1), Snap(1, lag=5.0), Snap(1, lag=6.0, anomalies=1)]
    calls = 0

    def read() -> Snap:
        nonlocal calls
        snap = reads[min(calls, len(reads) - 1)]
        calls += 1
        return snap

    async def scenario() -> None:
        hub = LiveHub(read, interval=0.05)  # type: ignore[arg-type]
        hub.start()
        sub = hub.subscribe()
        first = await asyncio.wait_for(sub.next(), 2)
        assert first is not None
        assert {e for e, _ in first} >= {"overview", "markets", "anomalies", "summary", "status"}
        later = await _drain(sub, timeout=0.4)
        # Only the lag moved in read 2, so nothing was resent; read 3 added an anomaly.
        assert set(later) == {"anomalies"}
        assert '"items":[0]' in later["anomalies"]
        await hub.stop()

    asyncio.run(scenario())


def test_a_slow_browser_keeps_only_the_newest_version_of_each_part() -> None:
    sub = Subscription()
    for n in range(100):
        sub.push("markets", f'{{"n":{n}}}')
    sub.push("anomalies", "{}")

    async def read() -> list[tuple[str, str]] | None:
        return await sub.next()

    batch = asyncio.run(read())
    assert batch == [("markets", '{"n":99}'), ("anomalies", "{}")]


def test_hub_does_not_read_the_database_while_no_page_is_open() -> None:
    calls = 0

    def read() -> Snap:
        nonlocal calls
        calls += 1
        return Snap(calls)

    async def scenario() -> None:
        hub = LiveHub(read, interval=0.02)  # type: ignore[arg-type]
        hub.start()
        await asyncio.sleep(0.2)
        assert calls == 0
        sub = hub.subscribe()
        await asyncio.wait_for(sub.next(), 2)
        assert calls >= 1
        hub.unsubscribe(sub)
        await asyncio.sleep(0.1)
        settled = calls
        await asyncio.sleep(0.2)
        assert calls == settled
        await hub.stop()

    asyncio.run(scenario())


def test_a_failing_read_reports_status_and_the_feed_recovers() -> None:
    outcomes: list[Exception | Snap] = [RuntimeError("db down"), Snap(7)]

    def read() -> Snap:
        item = outcomes.pop(0) if outcomes else Snap(7)
        if isinstance(item, Exception):
            raise item
        return item

    async def scenario() -> None:
        hub = LiveHub(read, interval=0.05)  # type: ignore[arg-type]
        hub.start()
        sub = hub.subscribe()
        first = await asyncio.wait_for(sub.next(), 2)
        assert first is not None and dict(first)["status"] == '{"ok":false,"error":"database unavailable, retrying"}'
        got = await _drain(sub, timeout=0.5)
        assert got["status"] == '{"ok":true}' and '"n":7' in got["overview"]
        assert hub.errors == 1
        await hub.stop()

    asyncio.run(scenario())


def test_stopping_the_hub_ends_every_stream() -> None:
    async def scenario() -> None:
        hub = LiveHub(lambda: Snap(1), interval=0.05)  # type: ignore[arg-type,return-value]
        hub.start()
        sub = hub.subscribe()
        await asyncio.wait_for(sub.next(), 2)
        await hub.stop()
        assert await asyncio.wait_for(sub.next(), 1) is None

    asyncio.run(scenario())
