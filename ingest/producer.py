"""The Kafka side of ingest: publish validated ticker messages (and dead letters) durably, in per-market order.

Record format (the consumer's contract, see ingest/ticker.py and docs/ingest.md):
- ticker topic: key = market code, value = canonical DEFAULT JSON, headers `received_at` (ms), `fmt` = `canonical`
  (the value is exactly `ticker.canonical_bytes`, so the consumer may hash it as is), `source` (ws / file);
- dead-letter topic: key = stage, value = the raw frame as received, headers `reason`, `stage`, `received_at`.
  The consumer stores these in `dead_letters` with dedup_key = topic/partition/offset, so a producer-side reject
  is as durable as data (acks=all) and needs no database connection in the socket loop.
Producer settings: acks=all, idempotence on (kafka-python 3 supports it and Tansu accepts it), gzip compression
(always available; lz4/zstd need extra packages), small linger for batching, flush on shutdown.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from ingest.ticker import canonical_bytes
from upbit_llm.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 4


class ProducerError(RuntimeError):
    """Kafka refused or lost messages; the message says how many and what to check."""


def ensure_topics(settings: Settings, partitions: int = DEFAULT_PARTITIONS) -> None:
    """Create the ticker and dead-letter topics if they do not exist (idempotent)."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10_000)
    except KafkaError as exc:
        raise ProducerError(
            f"cannot reach Kafka at {settings.kafka_servers}: {exc} — run `upbit-llm services up` or set KAFKA_SERVERS"
        ) from exc
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(name, num_partitions=partitions, replication_factor=1)
            for name in (settings.kafka_topic, settings.kafka_dead_letter_topic)
            if name not in existing
        ]
        if wanted:
            try:
                admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
            log.info("kafka topics created topics=%s partitions=%d", [t.name for t in wanted], partitions)
    finally:
        admin.close()


class TickerProducer:
    """Thread-safe wrapper around KafkaProducer counting what was sent, acknowledged and failed."""

    def __init__(self, settings: Settings, *, linger_ms: int = 5, client_id: str = "upbit-llm-ingest") -> None:
        self.settings = settings
        self.topic = settings.kafka_topic
        self.dead_topic = settings.kafka_dead_letter_topic
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=settings.kafka_bootstrap,
                client_id=client_id,
                acks="all",
                enable_idempotence=True,
                compression_type="gzip",
                linger_ms=linger_ms,
                batch_size=256 * 1024,
                max_request_size=4 * 1024 * 1024,
                retries=2**31 - 1,
                delivery_timeout_ms=120_000,
                request_timeout_ms=30_000,
            )
        except KafkaError as exc:
            raise ProducerError(
                f"cannot reach Kafka at {settings.kafka_servers}: {exc} — run `upbit-llm services up` "
                "or set KAFKA_SERVERS"
            ) from exc
        self._lock = threading.Lock()
        self.sent = 0
        self.acked = 0
        self.failed = 0
        self.dead_sent = 0
        self.last_error = ""

    def _on_ok(self, _metadata: Any) -> None:
        with self._lock:
            self.acked += 1

    def _on_error(self, exc: BaseException) -> None:
        with self._lock:
            self.failed += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
        log.error("kafka delivery failed error=%s", self.last_error)

    def send_ticker(self, message: dict[str, Any], received_at_ms: int, source: str = "ws") -> None:
        """Publish one validated DEFAULT-format message (key = market code)."""
        self.send_canonical(message["code"], canonical_bytes(message), received_at_ms, source)

    def send_canonical(self, code: str, value: bytes, received_at_ms: int, source: str = "ws") -> None:
        headers = [("received_at", str(received_at_ms).encode()), ("fmt", b"canonical"), ("source", source.encode())]
        future = self._producer.send(self.topic, key=code.encode(), value=value, headers=headers)
        future.add_callback(self._on_ok)
        future.add_errback(self._on_error)
        self.sent += 1

    def send_dead_letter(self, raw: bytes, reason: str, stage: str = "ws", received_at_ms: int | None = None) -> None:
        """Publish a frame we could not use, with the reason, to the dead-letter topic."""
        received = received_at_ms if received_at_ms is not None else int(time.time() * 1000)
        headers = [
            ("reason", reason.encode("utf-8", errors="replace")[:2000]),
            ("stage", stage.encode()),
            ("received_at", str(received).encode()),
        ]
        future = self._producer.send(self.dead_topic, key=stage.encode(), value=raw, headers=headers)
        future.add_callback(self._on_ok)
        future.add_errback(self._on_error)
        self.dead_sent += 1

    def flush(self, timeout: float | None = 60.0) -> None:
        self._producer.flush(timeout=timeout)

    def close(self, timeout: float = 60.0) -> None:
        """Flush what is buffered (SIGTERM / Ctrl-C path) and close; raise if anything was lost."""
        try:
            self._producer.flush(timeout=timeout)
        finally:
            self._producer.close(timeout=timeout)
        if self.failed:
            raise ProducerError(
                f"{self.failed} message(s) were not acknowledged by Kafka (last error: {self.last_error}) — "
                "check the broker, then re-run (re-sent messages are stored once)"
            )

    @property
    def pending(self) -> int:
        return self.sent + self.dead_sent - self.acked - self.failed
