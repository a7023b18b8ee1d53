"""The Upbit WebSocket connection: subscribe, keepalive, silence watchdog, reconnect with capped backoff + jitter.

Uses websocket-client in one thread. Every frame is handed to `on_frame(payload, received_at_ms)`, which
decodes and validates (see ingest/service.py) and returns False for keepalive/status frames, so the watchdog
measures silence of data, not of `{"status":"UP"}`. No `Origin` header is sent (Upbit limits requests that carry
one to 1 per 10 s). Connection attempts are spaced so we never exceed Upbit's 5 connections per second.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import websocket

log = logging.getLogger(__name__)

MIN_CONNECT_SPACING_S = 0.25  # ≤ 4 connection attempts per second, under Upbit's 5/s per IP


@dataclass
class StreamOptions:
    url: str
    ping_seconds: float = 20.0
    watchdog_seconds: float = 30.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    connect_timeout_s: float = 10.0
    fmt: str = "DEFAULT"
    only_realtime: bool = True  # a snapshot repeats a fill already stored; realtime alone loses nothing


@dataclass
class StreamStats:
    connects: int = 0
    reconnects: int = 0
    frames: int = 0
    watchdog_recycles: int = 0
    last_error: str = ""


class BufferedWebSocket(websocket.WebSocket):
    """websocket-client reads each frame with three `recv` calls (header, length, payload): one system call each.
    Reading 64 KiB at a time and serving the frame parts from that buffer cuts the syscalls per frame to a
    fraction — at a few thousand frames/s the syscalls were most of the ingest CPU."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._rbuf = b""
        self._rpos = 0

    def _recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            self._rbuf = super()._recv(max(bufsize, 65_536))
            self._rpos = 0
        end = self._rpos + bufsize
        out = self._rbuf[self._rpos : end]
        self._rpos += len(out)
        return out


def subscription_request(codes: list[str], *, fmt: str = "DEFAULT", only_realtime: bool = True) -> bytes:
    """Upbit's request array: ticket, ticker type with codes, format."""
    return orjson.dumps(
        [
            {"ticket": f"upbit-llm-{uuid.uuid4()}"},
            {"type": "ticker", "codes": [c.upper() for c in codes], "is_only_realtime": only_realtime},
            {"format": fmt},
        ]
    )


class UpbitStream:
    """Keeps one subscription alive until `stop()`; calls back on frames, connects and disconnects."""

    def __init__(
        self,
        options: StreamOptions,
        codes: Callable[[], list[str]],
        on_frame: Callable[[bytes, int], bool],
        *,
        on_connect: Callable[[int], None] | None = None,
        on_disconnect: Callable[[str], None] | None = None,
        max_connects: int | None = None,
    ) -> None:
        self.options = options
        self._codes = codes
        self._on_frame = on_frame
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._max_connects = max_connects
        self._stop = threading.Event()
        self._resubscribe = threading.Event()
        self._ws: websocket.WebSocket | None = None
        self.stats = StreamStats()
        self._last_attempt = 0.0
        self._delivered = False

    def stop(self) -> None:
        self._stop.set()
        ws = self._ws
        if ws is not None:
            try:
                ws.abort()
            except Exception:  # noqa: BLE001 (closing a socket that may already be gone)
                pass

    def resubscribe(self) -> None:
        """Send a fresh request with the current code list (markets listed or delisted)."""
        self._resubscribe.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Connect, stream, reconnect until stopped (or `max_connects` reached)."""
        attempt = 0
        while not self._stop.is_set():
            if self._max_connects is not None and self.stats.connects >= self._max_connects:
                return
            self._space_connects()
            reason = ""
            self._delivered = False
            try:
                self._session()
                reason = "server closed the connection"
            except (websocket.WebSocketException, OSError, ConnectionError) as exc:
                reason = f"{type(exc).__name__}: {exc}".strip()
            delivered = self._delivered
            if self._stop.is_set():
                return
            self.stats.last_error = reason
            if self._on_disconnect:
                self._on_disconnect(reason)
            # A session that delivered data resets the backoff (cryptofeed's rule): a healthy stream that drops
            # once reconnects at once; a failing endpoint backs off exponentially up to the cap, with jitter.
            attempt = 0 if delivered else attempt + 1
            delay = min(self.options.backoff_max_s, self.options.backoff_initial_s * (2 ** max(0, attempt - 1)))
            delay = delay * random.uniform(0.5, 1.0) if attempt else random.uniform(0, 0.1)
            log.warning("websocket disconnected reason=%s retry_in=%.2fs attempt=%d", reason, delay, attempt)
            self.stats.reconnects += 1
            self._stop.wait(delay)

    def _space_connects(self) -> None:
        wait = self._last_attempt + MIN_CONNECT_SPACING_S - time.monotonic()
        if wait > 0:
            self._stop.wait(wait)
        self._last_attempt = time.monotonic()

    def _session(self) -> None:
        """One connection's life; sets `_delivered` once a data frame arrived."""
        opts = self.options
        ws = websocket.create_connection(
            opts.url,
            timeout=opts.connect_timeout_s,
            suppress_origin=True,
            skip_utf8_validation=True,
            enable_multithread=False,
            class_=BufferedWebSocket,  # one reader thread; stop() only aborts the socket
        )
        self._ws = ws
        try:
            codes = self._codes()
            if not codes:
                raise ConnectionError("no market codes to subscribe to (empty catalog?)")
            ws.send_binary(subscription_request(codes, fmt=opts.fmt, only_realtime=opts.only_realtime))
            self.stats.connects += 1
            if self._on_connect:
                self._on_connect(len(codes))
            ws.settimeout(min(1.0, opts.ping_seconds, opts.watchdog_seconds))
            last_data = last_ping = time.monotonic()
            while not self._stop.is_set():
                now = time.monotonic()
                if now - last_ping >= opts.ping_seconds:
                    ws.send("PING")
                    last_ping = now
                if now - last_data >= opts.watchdog_seconds:
                    self.stats.watchdog_recycles += 1
                    raise ConnectionError(f"no data for {opts.watchdog_seconds:.0f}s (watchdog recycles the socket)")
                if self._resubscribe.is_set():
                    self._resubscribe.clear()
                    ws.send_binary(subscription_request(self._codes(), fmt=opts.fmt, only_realtime=opts.only_realtime))
                try:
                    opcode, payload = ws.recv_data()
                except websocket.WebSocketTimeoutException:
                    continue
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    return
                if opcode not in (websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_TEXT):
                    continue
                received = int(time.time() * 1000)
                self.stats.frames += 1
                if self._on_frame(payload if isinstance(payload, bytes) else bytes(payload), received):
                    last_data = time.monotonic()
                    self._delivered = True
        finally:
            self._ws = None
            try:
                ws.abort()
                ws.close(timeout=0.5)
            except Exception:  # noqa: BLE001 (best-effort close of a dead socket)
                pass
