"""The Kafka → database consumer: batched COPY, idempotent, offsets committed only after the database commit.

Two threads form a pipeline so Python decoding and PostgreSQL work overlap on two cores: the main thread polls
Kafka, decodes and validates records into COPY rows (poison → dead letter) and owns the KafkaConsumer (it is not
thread-safe); the writer thread stores each batch in one transaction (`ingest.writer.write_batch`), retrying the
same batch with backoff while the database is down — never skipping it — and hands the batch's offsets back to
the main thread, which commits them. A crash at any point re-delivers at most the uncommitted batches, and the
writer stores a re-delivered message once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import psycopg2
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from db.connection import DatabaseUnavailable, connect
from ingest import heartbeat
from ingest.dead_letters import DeadLetter, truncate_raw
from ingest.ticker import InvalidMessage, plausible_epoch_ms
from ingest.writer import PreparedRow, WriteResult, canonical_row, prepare, write_batch
from upbit_core.settings import Settings

log = logging.getLogger(__name__)


def _headers(record: object) -> dict[str, bytes]:
    """A record's headers as name → bytes; a header that is not a (str, bytes) pair or is null reads as empty
    (the first of a repeated name wins: it is what our producer wrote)."""
    out: dict[str, bytes] = {}
    raw = getattr(record, "headers", None) or ()
    for item in raw:
        try:
            name, value = item
        except (TypeError, ValueError):
            continue
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        if isinstance(name, str) and name not in out:
            out[name] = value if isinstance(value, bytes) else b""
    return out


def _received_ms(raw: bytes) -> int | None:
    """A `received_at` header value, when it is a plausible epoch-ms time; None (use the message's own time)
    otherwise — a forged or broken header must not reach datetime (OSError: Value too large)."""
    if not raw or len(raw) > 16 or not raw.isdigit():
        return None
    value = int(raw)
    return value if plausible_epoch_ms(value) else None


@dataclass
class Batch:
    rows: list[PreparedRow] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)  # next offset to read, per partition
    event_ms: list[int] = field(default_factory=list)  # received_at of rows (latency measurement)
    started: float = field(default_factory=time.monotonic)

    def __len__(self) -> int:
        return len(self.rows) + len(self.dead)


@dataclass
class ConsumerStats:
    records: int = 0
    rows_offered: int = 0
    rows_inserted: int = 0
    dead_letters: int = 0
    batches: int = 0
    commits: int = 0
    db_retries: int = 0
    last_batch_ms: float = 0.0
    lag: int = 0
    started: float = field(default_factory=time.monotonic)
    first_record_at: float | None = None  # monotonic time the first record arrived (group join excluded)
    last_commit_at: float | None = None
    latencies_ms: list[float] = field(default_factory=list)  # received_at → committed, last 10k rows sampled


class RecordDecoder:
    """Kafka records of the ticker and dead-letter topics → COPY rows and dead letters (the consumer's main thread;
    no I/O, so the fuzz tests drive it directly)."""

    def __init__(self, topic: str, dead_topic: str, max_dead_per_record: int = 100) -> None:
        self.topic = topic
        self.dead_topic = dead_topic
        self.max_dead_per_record = max_dead_per_record

    def add(self, batch: Batch, record: object) -> int:
        """Decode one Kafka record (one or more JSON Lines) into rows / dead letters; returns messages seen.
        Never raises for the record's content: any failure becomes a dead letter of this record. The record's
        offset joins the batch only once every line is a row or a dead letter, so a commit never passes a line
        that was neither."""
        topic, partition, offset = record.topic, record.partition, record.offset  # type: ignore[attr-defined]
        source = f"{topic}/{partition}/{offset}"
        rows_before, dead_before, event_before = len(batch.rows), len(batch.dead), len(batch.event_ms)
        try:
            seen = self._decode(batch, record, topic, source)
        except Exception as exc:
            log.exception("record decoding failed source=%s", source)
            del batch.rows[rows_before:], batch.dead[dead_before:], batch.event_ms[event_before:]
            raw = getattr(record, "value", None)
            raw_bytes = raw if isinstance(raw, bytes) else b""
            head, note = truncate_raw(raw_bytes)
            reason = f"record decoding failed: {type(exc).__name__}: {exc}" + (f"; {note}" if note else "")
            batch.dead.append(DeadLetter("consumer", reason, head, source, source))
            seen = 1
        batch.offsets[TopicPartition(topic, partition)] = offset + 1
        return seen

    def _decode(self, batch: Batch, record: object, topic: str, source: str) -> int:
        value = record.value  # type: ignore[attr-defined]
        headers = _headers(record)
        if value is not None and not isinstance(value, bytes):
            value = bytes(value)
        if topic == self.dead_topic:
            reason = headers.get("reason", b"unknown reason").decode("utf-8", "replace")[:2000]
            stage = headers.get("stage", b"").decode("utf-8", "replace")[:100] or "unknown"
            head, note = truncate_raw(value or b"")
            if note:
                reason = f"{reason}; {note}"
            batch.dead.append(DeadLetter(stage, reason, head, source, source))
            return 1
        if not value:
            batch.dead.append(DeadLetter("consumer", "empty Kafka record value", b"", source, source))
            return 1
        received_all = headers.get("received_at", b"").split(b",")
        canonical_ok = headers.get("fmt") == b"canonical"
        lines = value.split(b"\n")
        several = len(lines) > 1
        rows, event_ms = batch.rows, batch.event_ms
        bad: list[DeadLetter] = []
        bad_count = 0
        cap = self.max_dead_per_record
        for index, line in enumerate(lines):
            where = f"{source}#{index}" if several else source
            received = _received_ms(received_all[index] if index < len(received_all) else b"")
            # The common case (our producer's canonical, valid lines) in one fused pass; anything else — SIMPLE,
            # foreign encodings, unknown keys, invalid or not JSON — takes the general path with reasons.
            if not line.strip():  # never a message; cheap to tell (a record of newlines is 300,000 of these)
                if len(bad) < cap:
                    bad.append(DeadLetter("consumer", "empty line in a record", b"", where, where))
                bad_count += 1
                continue
            row = canonical_row(line, received, where) if canonical_ok else None
            if row is None:
                row = self._general_row(bad if len(bad) < cap else None, line, where, received)
            if row is not None:
                rows.append(row)
                if received is not None and len(event_ms) < 2_000:
                    event_ms.append(received)
            else:
                bad_count += 1
        batch.dead.extend(bad)
        if bad_count > len(bad):
            # One letter stands for the rest: the record's identity, how many lines and where it is in Kafka,
            # with the record's head as raw (the topic keeps the whole record until its retention).
            head, note = truncate_raw(value)
            reason = (
                f"{bad_count - len(bad)} more bad lines in this record of {len(lines)} lines (only the first {cap} "
                f"get their own dead letter, CONSUMER_MAX_DEAD_LETTERS_PER_RECORD)" + (f"; {note}" if note else "")
            )
            batch.dead.append(DeadLetter("consumer", reason, head, source, f"{source}#rest"))
        return len(lines)

    @staticmethod
    def _general_row(
        dead: list[DeadLetter] | None, value: bytes, source: str, received: int | None
    ) -> PreparedRow | None:
        """The general path (`ingest.writer.prepare`: SIMPLE → DEFAULT, validation with reasons, canonical id);
        a line that is not JSON or not valid becomes a dead letter with its reason (unless `dead` is None: the
        record's cap is reached), and None."""
        try:
            return prepare(orjson.loads(value), received, source, value)
        except orjson.JSONDecodeError as exc:
            reason = f"not valid JSON: {exc}"
        except InvalidMessage as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 (one odd line must not cost the record's other lines)
            reason = f"line decoding failed: {type(exc).__name__}: {exc}"
        if dead is not None:
            head, note = truncate_raw(value)
            dead.append(DeadLetter("consumer", f"{reason}; {note}" if note else reason, head, source, source))
        return None


class TickerConsumer:
    """Consume the ticker and dead-letter topics into the database until `stop()` (or `max_messages`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        batch_size: int = 5_000,
        batch_timeout_s: float = 0.25,
        max_messages: int = 0,
        status: Callable[[str], None] | None = None,
        status_interval: float = 10.0,
        client_id: str = "upbit-llm-consumer",
    ) -> None:
        self.settings = settings
        self.batch_size = batch_size
        self.batch_timeout_s = batch_timeout_s
        self.poll_records = 500  # records (each one or more messages) per poll()
        self._per_record = 1.0  # messages per record, recent average (sizes the polls)
        self.max_messages = max_messages
        self.stats = ConsumerStats()
        self._status = status
        self._status_interval = status_interval
        self._stop = threading.Event()
        self._abandon = threading.Event()  # stop retrying a batch (shutdown while the database is down)
        self._to_writer: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
        self._done: queue.Queue[tuple[Batch, WriteResult | None]] = queue.Queue()
        self._writer_error: BaseException | None = None
        self._conn: psycopg2.extensions.connection | None = None
        self._staging_batches = 0
        self.topic = settings.kafka_topic
        self.dead_topic = settings.kafka_dead_letter_topic
        self.decoder = RecordDecoder(self.topic, self.dead_topic, settings.consumer_max_dead_letters_per_record)
        poll_ms = settings.kafka_max_poll_interval_ms
        try:
            self.consumer = KafkaConsumer(
                bootstrap_servers=settings.kafka_bootstrap,
                group_id=settings.kafka_group_id,
                client_id=client_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_interval_ms=poll_ms,
                session_timeout_ms=min(poll_ms, 10_000),
                heartbeat_interval_ms=min(1_000, poll_ms // 3),
                max_poll_records=2_000,
                fetch_max_bytes=64 * 1024 * 1024,
                max_partition_fetch_bytes=16 * 1024 * 1024,
                receive_buffer_bytes=4 * 1024 * 1024,
            )
        except KafkaError as exc:
            raise RuntimeError(
                f"cannot reach Kafka at {settings.kafka_servers}: {exc} — run `upbit-llm services up` "
                "or set KAFKA_SERVERS"
            ) from exc

    # --- decoding (main thread) -----------------------------------------------------------------------
    def _add(self, batch: Batch, record: object) -> int:
        return self.decoder.add(batch, record)

    # --- writing (writer thread) ----------------------------------------------------------------------
    def _writer(self) -> None:
        try:
            while True:
                batch = self._to_writer.get()
                if batch is None:
                    return
                self._done.put((batch, self._write_with_retry(batch)))
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread, which stops)
            self._writer_error = exc
            self._done.put((Batch(), None))

    def _write_with_retry(self, batch: Batch) -> WriteResult | None:
        delay = 0.2
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = connect(self.settings, application_name="upbit-llm-consumer")
                direct = self._staging_batches == 0
                result = write_batch(self._conn, batch.rows, batch.dead, direct=direct)
                if result.path == "staging":
                    self._staging_batches = 5  # re-deliveries come in runs after a restart
                elif self._staging_batches:
                    self._staging_batches -= 1
                return result
            except (DatabaseUnavailable, psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                hint = "waiting for PostgreSQL; the batch is retried, nothing is skipped"
            except psycopg2.Error as exc:
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                hint = "if a table is missing run `upbit-llm migrate`; the batch is retried"
            self.stats.db_retries += 1
            log.warning("database write failed rows=%d error=%s retry_in=%.1fs (%s)", len(batch), message, delay, hint)
            if self._conn is not None:
                try:
                    self._conn.close()
                except psycopg2.Error:
                    pass
                self._conn = None
            if self._abandon.wait(delay):
                return None  # shutting down: offsets stay uncommitted, the batch is re-delivered next time
            delay = min(delay * 2, 5.0)

    # --- main loop ------------------------------------------------------------------------------------
    def _commit_done(self, block: bool = False) -> None:
        while True:
            try:
                batch, result = self._done.get(block=block, timeout=0.5 if block else None)
            except queue.Empty:
                return
            block = False
            if self._writer_error is not None:
                raise RuntimeError(f"consumer writer failed: {self._writer_error}") from self._writer_error
            if result is None:
                continue
            offsets = {tp: OffsetAndMetadata(off, "", -1) for tp, off in batch.offsets.items()}
            try:
                if offsets:
                    self.consumer.commit(offsets)
                    self.stats.commits += 1
            except (CommitFailedError, KafkaError) as exc:
                # Rows are stored; a failed commit only means re-delivery, which the writer de-duplicates.
                log.warning("offset commit failed (batch will be re-delivered and stored once) error=%s", exc)
            now_ms = time.time() * 1000
            self.stats.last_commit_at = time.monotonic()
            self.stats.batches += 1
            self.stats.records += len(batch)
            self.stats.rows_offered += result.offered
            self.stats.rows_inserted += result.inserted
            self.stats.dead_letters += result.dead_letters
            self.stats.last_batch_ms = (time.monotonic() - batch.started) * 1000
            lat = self.stats.latencies_ms
            lat.extend(now_ms - ms for ms in batch.event_ms)
            if len(lat) > 20_000:
                del lat[: len(lat) - 10_000]

    def _lag(self) -> int:
        total = 0
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is not None:
                try:
                    total += max(0, high - self.consumer.position(tp, timeout_ms=1000))
                except KafkaError:
                    pass
        return total

    def status_line(self) -> str:
        elapsed = max(time.monotonic() - self.stats.started, 1e-6)
        return (
            f"consume rows={self.stats.rows_inserted} rows/s={self.stats.rows_inserted / elapsed:.0f} "
            f"lag={self.stats.lag} batch_ms={self.stats.last_batch_ms:.0f} dead_letters={self.stats.dead_letters} "
            f"db_retries={self.stats.db_retries}"
        )

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> ConsumerStats:
        """Consume until `stop()`, `max_messages`, or an unrecoverable error; commit what was stored."""
        self.consumer.subscribe([self.topic, self.dead_topic])
        writer = threading.Thread(target=self._writer, name="consumer-writer", daemon=True)
        writer.start()
        batch = Batch()
        paused = False
        last_status = time.monotonic()
        taken = 0
        try:
            while not self._stop.is_set():
                self._commit_done()
                if self.max_messages and self.stats.records >= self.max_messages:
                    break
                full = self._to_writer.full()
                if full != paused:
                    assignment = list(self.consumer.assignment())
                    if full:
                        self.consumer.pause(*assignment)
                    else:
                        self.consumer.resume(*assignment)
                    paused = full
                # Small polls keep poll() frequent (the group's max_poll_interval) however big the batch grows, and
                # keep batches near batch_size messages: a record holds 1 (live) to 200 (burst, backfill) messages.
                want = min(self.poll_records, int((self.batch_size - len(batch)) / self._per_record) + 1)
                if self.max_messages:
                    want = min(want, max(1, self.max_messages - taken))
                polled = self.consumer.poll(timeout_ms=100, max_records=max(1, want))
                if polled and self.stats.first_record_at is None:
                    self.stats.first_record_at = time.monotonic()
                polled_records = polled_messages = 0
                for records in polled.values():
                    for record in records:
                        polled_messages += self._add(batch, record)
                    polled_records += len(records)
                if polled_records:
                    taken += polled_messages
                    self._per_record = 0.7 * self._per_record + 0.3 * (polled_messages / polled_records)
                age = time.monotonic() - batch.started
                limit_hit = bool(self.max_messages) and taken >= self.max_messages
                if batch and not paused and (len(batch) >= self.batch_size or age >= self.batch_timeout_s or limit_hit):
                    self._to_writer.put(batch)
                    batch = Batch()
                elif not batch:
                    batch.started = time.monotonic()
                if time.monotonic() - last_status >= self._status_interval:
                    last_status = time.monotonic()
                    heartbeat.touch(self.settings.heartbeat_file)
                    self.stats.lag = self._lag()
                    line = self.status_line()
                    log.info("%s", line)
                    if self._status:
                        self._status(line)
        finally:
            if batch:
                self._to_writer.put(batch)
            self._to_writer.put(None)
            # Wait for the writer to finish what it holds; give up retrying if the database stays down.
            deadline = time.monotonic() + 30
            while writer.is_alive() and time.monotonic() < deadline:
                self._commit_done(block=True)
            self._abandon.set()
            writer.join(10)
            self._commit_done()
            try:
                self.consumer.close(autocommit=False)
            except KafkaError as exc:
                log.warning("kafka close failed error=%s", exc)
            if self._conn is not None:
                self._conn.close()
        return self.stats
