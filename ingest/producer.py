"""The Kafka side of ingest: publish validated ticker messages (and dead letters) durably, in per-market order.

Record format (the consumer's contract, see ingest/ticker.py and docs/ingest.md):
- ticker topic: key = market code; value = JSON Lines of canonical DEFAULT messages of that market, in arrival
  order — one line per message (`ticker.canonical_bytes`, so the consumer hashes each line as is). At the real rate
  (~100 msg/s over ~160 markets) nearly every record holds one message; under bursts and backfills the producer
  packs up to `pack_max` messages of one market arriving within `linger_ms` into one record, because kafka-python's
  per-record cost (~50–100 µs in pure Python) would otherwise cap throughput. Headers: `received_at` (ms, one
  comma-separated value per line), `fmt` = `canonical`, `source` (ws / file);
- dead-letter topic: key = stage, value = the raw frame as received, headers `reason`, `stage`, `received_at`.
  The consumer stores these in `dead_letters` with dedup_key = topic/partition/offset, so a producer-side reject
  is as durable as data (acks=all) and needs no database connection in the socket loop.
Producer settings: acks=all, idempotence on (kafka-python 3 supports it and Tansu accepts it), lz4 compression
(gzip if the lz4 package is missing), small linger for batching, flush on shutdown.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.codec import has_lz4
from kafka.errors import KafkaError, TopicAlreadyExistsError

from ingest.dead_letters import truncate_raw
from ingest.ticker import canonical_bytes
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 4


def compression_type() -> str:
    """lz4 when its package is installed (fast); gzip otherwise (kafka-python compresses gzip at level 9, which
    costs tens of µs per message in the producer)."""
    return "lz4" if has_lz4() else "gzip"


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


@dataclass
class _Pack:
    started: float
    lines: list[bytes] = field(default_factory=list)
    received: list[int] = field(default_factory=list)
    size: int = 0


class TickerProducer:
    """Thread-safe wrapper around KafkaProducer counting what was sent, acknowledged and failed."""

    def __init__(
        self,
        settings: Settings,
        *,
        linger_ms: int = 5,
        pack_max: int = 200,
        client_id: str = "upbit-llm-ingest",
    ) -> None:
        self.settings = settings
        self.linger_s = linger_ms / 1000
        self.pack_max = pack_max
        self._packs: dict[tuple[str, str], _Pack] = {}
        self._closed = threading.Event()
        self.topic = settings.kafka_topic
        self.dead_topic = settings.kafka_dead_letter_topic
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=settings.kafka_bootstrap,
                client_id=client_id,
                acks="all",
                enable_idempotence=True,
                compression_type=compression_type(),
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
        self.records = 0
        self._flusher = threading.Thread(target=self._flush_loop, name="producer-packs", daemon=True)
        self._flusher.start()

    def _on_ok(self, count: int, _metadata: Any) -> None:
        with self._lock:
            self.acked += count

    def _on_error(self, count: int, exc: BaseException) -> None:
        with self._lock:
            self.failed += count
            self.last_error = f"{type(exc).__name__}: {exc}"
        log.error("kafka delivery failed messages=%d error=%s", count, self.last_error)

    def _send_pack(self, code: str, source: str, pack: _Pack) -> None:
        headers = [
            ("received_at", ",".join(map(str, pack.received)).encode()),
            ("fmt", b"canonical"),
            ("source", source.encode()),
        ]
        value = b"\n".join(pack.lines)
        try:
            future = self._producer.send(self.topic, key=code.encode(), value=value, headers=headers)
        except KafkaError as exc:
            # Refused before it left (too large, buffer full, no metadata): each message becomes a dead letter
            # rather than an exception that would end the socket loop or the flusher thread.
            log.error("kafka refused a record messages=%d error=%s: %s", len(pack.lines), type(exc).__name__, exc)
            for line, received in zip(pack.lines, pack.received, strict=True):
                self.send_dead_letter(line, f"kafka refused the record: {type(exc).__name__}: {exc}", "ws", received)
            with self._lock:
                self.sent -= len(pack.lines)  # counted as dead letters now
            return
        future.add_callback(functools.partial(self._on_ok, len(pack.lines)))
        future.add_errback(functools.partial(self._on_error, len(pack.lines)))
        self.records += 1

    def _flush_packs(self, older_than: float | None) -> None:
        """Send packs started before `older_than` (monotonic), or all of them when None."""
        with self._lock:
            due = [(key, pack) for key, pack in self._packs.items() if older_than is None or pack.started <= older_than]
            for key, _pack in due:
                del self._packs[key]
        for (code, source), pack in due:
            self._send_pack(code, source, pack)

    def _flush_loop(self) -> None:
        while not self._closed.wait(max(self.linger_s / 2, 0.001)):
            try:
                self._flush_packs(time.monotonic() - self.linger_s)
            except Exception:  # a dead flusher would strand every later pack: log and keep going
                log.exception("producer pack flush failed")

    def send_ticker(self, message: dict[str, Any], received_at_ms: int, source: str = "ws") -> None:
        """Publish one validated DEFAULT-format message (key = market code)."""
        self.send_canonical(message["code"], canonical_bytes(message), received_at_ms, source)

    def send_canonical(self, code: str, value: bytes, received_at_ms: int, source: str = "ws") -> None:
        """Queue one canonical message; it leaves within `linger_ms` (packed with others of its market)."""
        full = None
        with self._lock:
            key = (code, source)
            pack = self._packs.get(key)
            if pack is None:
                pack = self._packs[key] = _Pack(time.monotonic())
            pack.lines.append(value)
            pack.received.append(received_at_ms)
            pack.size += len(value)
            self.sent += 1
            if len(pack.lines) >= self.pack_max or pack.size >= 256 * 1024:
                full = self._packs.pop(key)
        if full is not None:
            self._send_pack(code, source, full)

    def send_dead_letter(self, raw: bytes, reason: str, stage: str = "ws", received_at_ms: int | None = None) -> None:
        """Publish a frame we could not use, with the reason, to the dead-letter topic. A payload over
        RAW_HEAD_BYTES is cut to its head (length and hash go into the reason), so no frame is too large to
        dead-letter; a Kafka refusal is counted and logged, never raised into the socket loop."""
        received = received_at_ms if received_at_ms is not None else int(time.time() * 1000)
        head, note = truncate_raw(raw)
        if note:
            reason = f"{reason}; {note}"
        headers = [
            ("reason", reason.encode("utf-8", errors="replace")[:2000]),
            ("stage", stage.encode("utf-8", errors="replace")[:100]),
            ("received_at", str(received).encode()),
        ]
        with self._lock:
            self.dead_sent += 1
        try:
            future = self._producer.send(self.dead_topic, key=stage.encode(), value=head, headers=headers)
        except KafkaError as exc:
            self._on_error(1, exc)
            return
        future.add_callback(functools.partial(self._on_ok, 1))
        future.add_errback(functools.partial(self._on_error, 1))

    def flush(self, timeout: float | None = 60.0) -> None:
        self._flush_packs(None)
        self._producer.flush(timeout=timeout)

    def close(self, timeout: float = 60.0) -> None:
        """Flush what is buffered (SIGTERM / Ctrl-C path) and close; raise if anything was lost."""
        self._closed.set()
        try:
            self.flush(timeout=timeout)
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
