"""Run the real ingest pipeline in-process: fake-upbit → producer (LiveIngest) → Kafka → consumer → database.

`fill_via_pipeline(settings, kafka_bootstrap, ...)` is what other areas' integration tests use to fill a scratch
database the way production does; `Pipeline` gives ingest tests access to each part (server faults, stats).
Every call uses its own Kafka topics and consumer group, so tests never see each other's messages.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg2

from fake_upbit.server import FakeUpbitServer, Faults
from fake_upbit.simulator import EventPlan
from fake_upbit.sources import FileSource, SimulatedSource
from ingest.consumer import TickerConsumer
from ingest.producer import TickerProducer, ensure_topics
from ingest.service import LiveIngest
from upbit_core.settings import Settings


@dataclass
class PipelineSummary:
    sent: int  # data messages the server sent
    stored: int  # rows in ticker_data
    dead_letters: int
    gaps: int
    reconnects: int
    start_ms: int
    end_ms: int
    seconds: float
    catalog: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)


def pipeline_settings(settings: Settings, kafka_bootstrap: str, server: FakeUpbitServer, **overrides: Any) -> Settings:
    tag = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "kafka_servers": kafka_bootstrap,
        "kafka_topic": f"ticker_{tag}",
        "kafka_dead_letter_topic": f"ticker_dead_{tag}",
        "kafka_group_id": f"writer_{tag}",
        "kafka_max_poll_interval_ms": 6_000,
        "upbit_ws_url": server.ws_url,
        "upbit_rest_url": server.rest_url,
        "upbit_watchdog_seconds": 5.0,
        "upbit_ping_seconds": 2.0,
    }
    values.update(overrides)
    return settings.model_copy(update=values)


def count_rows(settings: Settings) -> tuple[int, int, int]:
    """(ticker_data rows, dead letters, gaps) in the settings' database."""
    conn = psycopg2.connect(settings.database_dsn())
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT (SELECT count(*) FROM ticker_data), (SELECT count(*) FROM dead_letters), "
                "(SELECT count(*) FROM ingest_gaps)"
            )
            row = cur.fetchone()
            assert row is not None
            return int(row[0]), int(row[1]), int(row[2])
    finally:
        conn.close()


class Pipeline:
    """A running server + ingest + consumer; `wait_until_stored()` then `stop()` (or use as a context manager)."""

    def __init__(
        self,
        settings: Settings,
        kafka_bootstrap: str,
        source: SimulatedSource | FileSource,
        *,
        speed: float | None = None,
        faults: Faults | None = None,
        consumer: bool = True,
        catalog_refresh_s: float | None = None,
        **setting_overrides: Any,
    ) -> None:
        self.source = source
        self.server = FakeUpbitServer(source, speed=speed, faults=faults, record_sent=True).start_in_thread()
        self.settings = pipeline_settings(settings, kafka_bootstrap, self.server, **setting_overrides)
        ensure_topics(self.settings)
        self.producer = TickerProducer(self.settings)
        self.ingest = LiveIngest(self.settings, self.producer, status_interval=1.0, catalog_refresh_s=catalog_refresh_s)
        self._ingest_thread = threading.Thread(target=self.ingest.run, name="pipeline-ingest", daemon=True)
        self._ingest_thread.start()
        self.consumer: TickerConsumer | None = None
        self._consumer_thread: threading.Thread | None = None
        self.started = time.monotonic()
        if consumer:
            self.start_consumer()

    def start_consumer(self) -> TickerConsumer:
        self.consumer = TickerConsumer(self.settings, batch_size=10_000, batch_timeout_s=0.2, status_interval=2.0)
        self._consumer_thread = threading.Thread(target=self.consumer.run, name="pipeline-consumer", daemon=True)
        self._consumer_thread.start()
        return self.consumer

    def wait_until_stored(self, *, expected_dead: int = 0, timeout: float = 120.0) -> tuple[int, int, int]:
        """Wait until the feed has finished and every message the server sent (and the expected dead letters)
        is in the database. Returns the final (rows, dead letters, gaps)."""
        deadline = time.monotonic() + timeout
        counts = (0, 0, 0)
        while time.monotonic() < deadline:
            counts = count_rows(self.settings)
            if self.server.feed_done and counts[0] >= self.server.stats.sent and counts[1] >= expected_dead:
                time.sleep(0.3)  # let an in-flight duplicate or late dead letter land before the final count
                return count_rows(self.settings)
            time.sleep(0.2)
        raise AssertionError(
            f"pipeline did not store everything in {timeout:.0f}s: rows={counts[0]} sent={self.server.stats.sent} "
            f"dead_letters={counts[1]} (expected {expected_dead}) feed_done={self.server.feed_done}"
        )

    def stop(self) -> None:
        self.ingest.stop()
        self._ingest_thread.join(30)
        try:
            self.producer.close()
        finally:
            if self.consumer is not None:
                self.consumer.stop()
            if self._consumer_thread is not None:
                self._consumer_thread.join(60)
            self.server.stop()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def fill_via_pipeline(
    settings: Settings,
    kafka_bootstrap: str,
    *,
    markets: int = 160,
    duration_s: float = 60.0,
    seed: int = 1,
    rate: float = 100.0,
    start_ms: int | None = None,
    events: bool = True,
    plan: EventPlan | None = None,
    timeout: float = 180.0,
) -> PipelineSummary:
    """Simulate `duration_s` seconds of `markets` markets and push them through the real pipeline into the
    database of `settings` (migrated scratch DB). The data ends about now (event time) unless `start_ms` is given.
    Runs at full speed, not real time. Returns what was sent and stored, plus the catalog and event labels."""
    if start_ms is None:
        start_ms = int(time.time() * 1000) - int(duration_s * 1000)
    source = SimulatedSource(
        markets=markets, rate=rate, seed=seed, start_ms=start_ms, events=events, plan=plan, duration_s=duration_s
    )
    started = time.monotonic()
    with Pipeline(settings, kafka_bootstrap, source, speed=None) as pipe:
        rows, dead, gaps = pipe.wait_until_stored(timeout=timeout)
        sent = pipe.server.stats.sent
        reconnects = pipe.ingest.stream.stats.reconnects
    return PipelineSummary(
        sent=sent,
        stored=rows,
        dead_letters=dead,
        gaps=gaps,
        reconnects=reconnects,
        start_ms=start_ms,
        end_ms=start_ms + int(duration_s * 1000),
        seconds=time.monotonic() - started,
        catalog=source.catalog(),
        labels=source.simulator.labels(),
    )
