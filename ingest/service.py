"""Live ingest: catalog → subscription → frames decoded and validated → Kafka; gaps and status recorded.

Frames: data messages (DEFAULT, SIMPLE or the list formats) are validated and produced; `{"status":"UP"}` and
Upbit error frames are logged, never forwarded as data; anything else unusable goes to the dead-letter topic with
its reason. Every disconnect becomes an `ingest_gaps` row (all subscribed markets, from the last event time
before to the first event time after).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg2

from db.connection import DatabaseUnavailable, connect
from ingest import heartbeat
from ingest.catalog import CatalogError, fetch_catalog, select_codes, store_catalog
from ingest.gap_heal import startup_backfill
from ingest.producer import TickerProducer
from ingest.rest_candles import RestCandleClient, RestError
from ingest.ticker import InvalidMessage, is_simple, to_default, validation_errors
from ingest.ws_client import OversizeFrame, StreamOptions, UpbitStream
from upbit_core.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class IngestStats:
    messages: int = 0
    dead_letters: int = 0
    status_frames: int = 0
    error_frames: int = 0
    gaps: int = 0
    markets: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)


@dataclass
class Gap:
    start_ms: int
    end_ms: int | None
    reason: str


class GapRecorder:
    """Writes gaps to `ingest_gaps`; keeps them in memory while the database is down and retries later."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pending: list[Gap] = []
        self._lock = threading.Lock()

    def add(self, gap: Gap) -> None:
        with self._lock:
            self.pending.append(gap)
        self.flush()

    def flush(self) -> None:
        with self._lock:
            if not self.pending:
                return
            try:
                conn = connect(self.settings, application_name="upbit-llm-ingest")
            except DatabaseUnavailable as exc:
                log.warning("gaps kept in memory pending=%d error=%s", len(self.pending), exc)
                return
            try:
                with conn.cursor() as cur:
                    for gap in self.pending:
                        cur.execute(
                            "INSERT INTO ingest_gaps (code, gap_start, gap_end, reason) VALUES "
                            "(NULL, to_timestamp(%s / 1000.0), to_timestamp(%s / 1000.0), %s)",
                            (gap.start_ms, gap.end_ms, gap.reason[:500]),
                        )
                conn.commit()
                self.pending.clear()
            except psycopg2.Error as exc:
                log.warning("gaps kept in memory pending=%d error=%s", len(self.pending), exc)
            finally:
                conn.close()


class LiveIngest:
    """One producer process: keeps the subscription alive and feeds Kafka until `stop()`."""

    def __init__(
        self,
        settings: Settings,
        producer: TickerProducer,
        *,
        codes: list[str] | None = None,
        status: Callable[[str], None] | None = None,
        status_interval: float = 10.0,
        max_connects: int | None = None,
        catalog_refresh_s: float | None = None,
    ) -> None:
        self.settings = settings
        self.catalog_refresh_s = catalog_refresh_s or float(settings.catalog_refresh_interval_seconds)
        self.producer = producer
        self.explicit_codes = [c.upper() for c in codes] if codes else settings.explicit_codes
        self.stats = IngestStats()
        self.gaps = GapRecorder(settings)
        self._status = status
        self._status_interval = status_interval
        self._codes: list[str] = []
        self._subscribed: frozenset[str] = frozenset()
        self._refresh_on_connect = True
        self._last_event_ms: int | None = None
        self._open_gap: Gap | None = None
        self._last_catalog_refresh = 0.0
        self._stop = threading.Event()
        self.history_job: dict[str, object] | None = None
        self.stream = UpbitStream(
            StreamOptions(
                url=settings.upbit_ws_url,
                ping_seconds=settings.upbit_ping_seconds,
                watchdog_seconds=settings.upbit_watchdog_seconds,
                max_frame_bytes=settings.upbit_max_frame_bytes,
            ),
            self._codes_for_connect,
            self.on_frame,
            on_disconnect=self._on_disconnect,
            on_oversize=self._on_oversize,
            max_connects=max_connects,
        )

    # --- catalog --------------------------------------------------------------------------------------
    def refresh_catalog(self) -> list[str]:
        """Fetch and store the catalog; returns the codes to follow (the previous list if the fetch fails)."""
        self._last_catalog_refresh = time.monotonic()
        try:
            catalog = fetch_catalog(self.settings.upbit_rest_url)
        except CatalogError as exc:
            log.error("%s", exc)
            return self._codes or self.explicit_codes
        try:
            conn = connect(self.settings, application_name="upbit-llm-ingest")
            try:
                store_catalog(conn, catalog)
            finally:
                conn.close()
        except (DatabaseUnavailable, psycopg2.Error) as exc:
            log.warning("catalog not stored (will retry on the next refresh) error=%s", exc)
        return self.explicit_codes or select_codes(catalog, self.settings.quote_currencies)

    @property
    def codes(self) -> list[str]:
        """Market codes currently subscribed."""
        return list(self._codes)

    def _codes_for_connect(self) -> list[str]:
        if self._refresh_on_connect or not self._codes:
            self._codes = self.refresh_catalog()
            self._refresh_on_connect = False
        self._subscribed = frozenset(self._codes)
        return self._codes

    def _maybe_daily_refresh(self) -> None:
        if time.monotonic() - self._last_catalog_refresh < self.catalog_refresh_s:
            return
        codes = self.refresh_catalog()
        if codes and codes != self._codes:
            log.info(
                "subscription changed added=%s removed=%s", set(codes) - set(self._codes), set(self._codes) - set(codes)
            )
            self._codes = codes
            self._subscribed = self._subscribed | frozenset(codes)  # the old codes stay until the new request
            self.stream.resubscribe()

    # --- frames ---------------------------------------------------------------------------------------
    def on_frame(self, payload: bytes, received_at_ms: int) -> bool:
        """Handle one frame; returns False for keepalive/status/error frames (not data). Never raises: whatever
        goes wrong with one frame becomes that frame's dead letter, and the socket loop goes on."""
        try:
            return self._frame(payload, received_at_ms)
        except Exception as exc:
            log.exception("frame handling failed length=%d", len(payload))
            try:
                self._dead(payload, f"frame handling failed: {type(exc).__name__}: {exc}", received_at_ms)
            except Exception:
                log.exception("dead letter for a failed frame could not be queued")
            return True

    def _on_oversize(self, frame: OversizeFrame, received_at_ms: int) -> None:
        self.stats.dead_letters += 1
        reason = (
            f"frame of {frame.length} bytes exceeds UPBIT_MAX_FRAME_BYTES={self.settings.upbit_max_frame_bytes}; "
            f"raw cut to its first {len(frame.head)} bytes, sha256={frame.sha256}"
        )
        self.producer.send_dead_letter(frame.head, reason, "ws", received_at_ms)

    def _frame(self, payload: bytes, received_at_ms: int) -> bool:
        try:
            decoded = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            self._dead(payload, f"not valid JSON: {exc}", received_at_ms)
            return True
        if isinstance(decoded, dict):
            if decoded.get("status") == "UP" and len(decoded) == 1:
                self.stats.status_frames += 1
                return False
            if "error" in decoded and "code" not in decoded:
                self.stats.error_frames += 1
                log.error("Upbit error frame error=%s", orjson.dumps(decoded["error"]).decode()[:300])
                return False
            if "method" in decoded:
                log.info("Upbit answer %s", payload[:300].decode("utf-8", "replace"))
                return False
            self._ticker(decoded, payload, received_at_ms)
            return True
        if isinstance(decoded, list) and decoded and all(isinstance(item, dict) for item in decoded):
            for item in decoded:  # JSON_LIST / SIMPLE_LIST frames
                self._ticker(item, orjson.dumps(item), received_at_ms)
            return True
        self._dead(payload, f"not a JSON object (got {type(decoded).__name__})", received_at_ms)
        return True

    def _ticker(self, message: dict[str, Any], raw: bytes, received_at_ms: int) -> None:
        if is_simple(message):
            message = to_default(message)
        reasons = validation_errors(message)
        if reasons:
            self._dead(raw, str(InvalidMessage(reasons)), received_at_ms)
            return
        if self._subscribed and message["code"] not in self._subscribed:
            # Data for a market we did not ask for is not the exchange's answer to our request: keep it out of the
            # store (and so out of every market list built from it).
            self._dead(raw, f"code {message['code']} is not in the subscription", received_at_ms)
            return
        ts = message["trade_timestamp"]
        if self._open_gap is not None:
            gap, self._open_gap = self._open_gap, None
            gap.end_ms = max(ts, gap.start_ms)
            self.stats.gaps += 1
            self.gaps.add(gap)
        if self._last_event_ms is None or ts > self._last_event_ms:
            self._last_event_ms = ts
        self.producer.send_ticker(message, received_at_ms)
        self.stats.messages += 1
        self.stats.markets.add(message["code"])

    def _dead(self, raw: bytes, reason: str, received_at_ms: int) -> None:
        self.stats.dead_letters += 1
        log.debug("dead letter reason=%s", reason)
        self.producer.send_dead_letter(raw, reason, "ws", received_at_ms)

    def _on_disconnect(self, reason: str) -> None:
        self._refresh_on_connect = True  # the catalog is refreshed on every reconnect
        if self._open_gap is None and self._last_event_ms is not None:
            self._open_gap = Gap(self._last_event_ms, None, f"websocket disconnect: {reason}")

    # --- lifecycle ------------------------------------------------------------------------------------
    def status_line(self) -> str:
        elapsed = max(time.monotonic() - self.stats.started, 1e-6)
        return (
            f"ingest msgs={self.stats.messages} msgs/s={self.stats.messages / elapsed:.1f} "
            f"markets={len(self.stats.markets)} reconnects={self.stream.stats.reconnects} "
            f"dead_letters={self.stats.dead_letters} gaps={self.stats.gaps} kafka_pending={self.producer.pending} "
            f"kafka_failed={self.producer.failed}"
        )

    def _status_loop(self) -> None:
        heartbeat.touch(self.settings.heartbeat_file)
        while not self._stop.wait(min(self._status_interval, self.catalog_refresh_s)):
            heartbeat.touch(self.settings.heartbeat_file)
            line = self.status_line()
            log.info("%s", line)
            if self._status:
                self._status(line)
            self.gaps.flush()
            self._maybe_daily_refresh()

    def _startup_history(self) -> None:
        """First start: fetch BACKFILL_ON_START_HOURS of REST minutes for the followed markets (in the background,
        while the stream runs), so history exists from minute one and the gap before the first live fill closes."""
        deadline = time.monotonic() + 60
        while not self._codes and not self._stop.is_set() and time.monotonic() < deadline:
            self._stop.wait(0.2)
        if not self._codes:
            return
        client = RestCandleClient.from_settings(self.settings)
        try:
            conn = connect(self.settings, application_name="upbit-llm-ingest-history")
            try:
                job = startup_backfill(conn, self.settings, client, list(self._codes), should_stop=self._stop.is_set)
            finally:
                conn.close()
            if job is not None:
                self.history_job = job.as_dict()
                log.info("first-start history %s", job.as_dict())
        except (DatabaseUnavailable, psycopg2.Error, RestError) as exc:
            log.warning("first-start history not fetched (resumes on the next start) error=%s", exc)
        finally:
            client.close()

    def run(self) -> IngestStats:
        """Stream until `stop()`; then flush Kafka and record an open gap."""
        reporter = threading.Thread(target=self._status_loop, name="ingest-status", daemon=True)
        reporter.start()
        if self.settings.backfill_on_start_hours > 0:
            threading.Thread(target=self._startup_history, name="ingest-history", daemon=True).start()
        try:
            self.stream.run()
        finally:
            self._stop.set()
            if self._open_gap is not None:
                self.gaps.add(self._open_gap)
            self.producer.flush()
            self.gaps.flush()
        return self.stats

    def stop(self) -> None:
        self._stop.set()
        self.stream.stop()
