"""The Upbit WebSocket connection: subscribe, keepalive, silence watchdog, reconnect with capped backoff + jitter.

Uses websocket-client in one thread. Every frame is handed to `on_frame(payload, received_at_ms)`, which
decodes and validates (see ingest/service.py) and returns False for keepalive/status frames, so the watchdog
measures silence of data, not of `{"status":"UP"}`. No `Origin` header is sent (Upbit limits requests that carry
one to 1 per 10 s). Connection attempts are spaced so we never exceed Upbit's 5 connections per second.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import websocket
from websocket._abnf import ABNF, frame_buffer

log = logging.getLogger(__name__)

MIN_CONNECT_SPACING_S = 0.25  # ≤ 4 connection attempts per second, under Upbit's 5/s per IP
DEFAULT_MAX_FRAME_BYTES = 1024 * 1024  # a real ticker message is ~1 KB; the list formats a few KB
OVERSIZE_HEAD_BYTES = 64 * 1024  # what is kept of an oversize frame (the dead letter's raw payload)


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
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES  # larger frames are never held whole in memory


@dataclass(frozen=True)
class OversizeFrame:
    """A frame (or fragmented message) larger than the cap: its head, its full length and the SHA-256 of it all."""

    head: bytes
    length: int
    sha256: str


class _Oversize(Exception):
    def __init__(self, frame: OversizeFrame) -> None:
        super().__init__(f"frame of {frame.length} bytes")
        self.frame = frame


class CappedFrameBuffer(frame_buffer):
    """websocket-client's frame reader with a size cap: a frame whose header announces more than `max_bytes` is
    read through in 64 KiB steps (the connection stays in sync) keeping only its head and a hash, then reported as
    `_Oversize` instead of being assembled — an 8 MiB or 2 GiB frame costs 64 KiB of memory. The discard state
    lives on the object, so a socket timeout in the middle resumes where it stopped."""

    def __init__(self, recv_fn: Callable[[int], bytes], skip_utf8_validation: bool, max_bytes: int) -> None:
        super().__init__(recv_fn, skip_utf8_validation)
        self.max_bytes = max_bytes
        self._discard: tuple[bytearray, hashlib._Hash, list[int]] | None = None

    def recv_frame(self) -> ABNF:
        # One reader thread owns the socket (see UpbitStream), so the header peek needs no lock; the parent's
        # recv_frame skips the header and length already read.
        if self.needs_header():
            self.recv_header()
        if self.needs_length():
            self.recv_length()
        length = self.length
        if length is None or length <= self.max_bytes:
            return super().recv_frame()
        if self.needs_mask():
            self.recv_mask()
        if self._discard is None:
            self._discard = (bytearray(), hashlib.sha256(), [length])
        head, digest, remaining = self._discard
        while remaining[0] > 0:
            chunk = self.recv_strict(min(OVERSIZE_HEAD_BYTES, remaining[0]))
            if self.has_mask() and self.mask_value:
                chunk = ABNF.mask(self.mask_value, chunk)  # chunks are 4-byte aligned: the mask lines up
            remaining[0] -= len(chunk)
            digest.update(chunk)
            if len(head) < OVERSIZE_HEAD_BYTES:
                head += chunk[: OVERSIZE_HEAD_BYTES - len(head)]
        self._discard = None
        self.clear()
        raise _Oversize(OversizeFrame(bytes(head), length, digest.hexdigest()))


@dataclass
class StreamStats:
    connects: int = 0
    reconnects: int = 0
    frames: int = 0
    watchdog_recycles: int = 0
    oversize_frames: int = 0
    last_error: str = ""


class BufferedWebSocket(websocket.WebSocket):
    """websocket-client reads each frame with three `recv` calls (header, length, payload): one system call each.
    Reading 64 KiB at a time and serving the frame parts from that buffer cuts the syscalls per frame to a
    fraction — at a few thousand frames/s the syscalls were most of the ingest CPU."""

    max_frame_bytes = DEFAULT_MAX_FRAME_BYTES  # set per stream through a subclass (see `_socket_class`)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._rbuf = b""
        self._rpos = 0
        self.frame_buffer = CappedFrameBuffer(self._recv, True, self.max_frame_bytes)

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
        on_oversize: Callable[[OversizeFrame, int], None] | None = None,
        max_connects: int | None = None,
    ) -> None:
        self.options = options
        self._codes = codes
        self._on_frame = on_frame
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._on_oversize = on_oversize
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

    def _oversize(self, frame: OversizeFrame) -> None:
        self.stats.frames += 1
        self.stats.oversize_frames += 1
        log.warning(
            "oversize frame dropped length=%d cap=%d sha256=%s",
            frame.length,
            self.options.max_frame_bytes,
            frame.sha256,
        )
        if self._on_oversize:
            self._on_oversize(frame, int(time.time() * 1000))

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
            # One reader thread; stop() only aborts the socket. The subclass carries this stream's frame cap.
            class_=type("CappedWebSocket", (BufferedWebSocket,), {"max_frame_bytes": opts.max_frame_bytes}),
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
                except _Oversize as exc:
                    self._oversize(exc.frame)
                    continue
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    return
                if opcode not in (websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_TEXT):
                    continue
                data = payload if isinstance(payload, bytes) else bytes(payload)
                if len(data) > opts.max_frame_bytes:  # a message fragmented into frames each under the cap
                    digest = hashlib.sha256(data).hexdigest()
                    self._oversize(OversizeFrame(data[:OVERSIZE_HEAD_BYTES], len(data), digest))
                    continue
                received = int(time.time() * 1000)
                self.stats.frames += 1
                if self._on_frame(data, received):
                    last_data = time.monotonic()
                    self._delivered = True
        finally:
            self._ws = None
            try:
                ws.abort()
                ws.close(timeout=0.5)
            except Exception:  # noqa: BLE001 (best-effort close of a dead socket)
                pass
