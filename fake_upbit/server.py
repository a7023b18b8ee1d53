"""The local Upbit-protocol server: WebSocket `/websocket/v1` (ticker stream) and REST `/v1/market/all` and
`/v1/candles/minutes/{unit}` (fake_upbit.candles), one port.

Protocol as Upbit documents it: a request is one JSON array `[{ticket}, {type: "ticker", codes, is_only_realtime |
is_only_snapshot}, {format}]`; data goes out as binary JSON frames for the subscribed codes only; `PING` (text) is
answered with `{"status":"UP"}` (then every 10 s); malformed requests get `{"error": {"name", "message"}}`.
Fault switches (tests): drop the connection every N messages, stall silently, mix garbage frames into the stream,
black out the feed for an event-time window (connections dropped and refused: a WebSocket outage), 429 storms.
The feed starts when the first client subscribes; with `speed=None` (max) it waits for a subscriber instead of
sending into the void, so a benchmark or test can account for every message.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidState
from websockets.http11 import Request, Response

from fake_upbit.candles import CandleBook, CandleService, RestLimits
from fake_upbit.simulator import SimEvent
from ingest.ticker import to_simple

log = logging.getLogger(__name__)

FORMATS = frozenset({"DEFAULT", "SIMPLE", "JSON_LIST", "SIMPLE_LIST"})
QUEUE_LIMIT = 20_000  # per connection; a client this far behind is disconnected, like Upbit does


class Source(Protocol):
    def catalog(self) -> list[dict[str, Any]]: ...
    def messages(self) -> Any: ...
    def events(self) -> list[SimEvent]: ...


@dataclass
class Faults:
    """Failure injection. Counts are data messages sent by the server (all connections together)."""

    drop_every: int = 0  # abort the connection after every N data messages (0 = never)
    max_drops: int = 0  # stop dropping after this many (0 = unlimited)
    stall_after: int = 0  # after N data messages go silent on that connection (once), keep the socket open
    garbage_every: int = 0  # send a garbage frame after every N data messages
    max_garbage: int = 0  # stop after this many garbage frames (0 = unlimited)
    # Event-time window [start_ms, end_ms): connections are dropped when the feed enters it and refused until it
    # leaves it; its messages still trade (REST candles have them), nobody receives them.
    blackout_ms: tuple[int, int] | None = None
    garbage_frames: tuple[bytes, ...] = ()  # the garbage to cycle through (default: a built-in mix)


@dataclass
class ServerStats:
    connections: int = 0
    requests: int = 0
    errors_sent: int = 0
    sent: int = 0
    drops: int = 0
    stalls: int = 0
    garbage: int = 0
    origin_headers: int = 0
    fed: int = 0


@dataclass(eq=False)
class _Client:
    connection: ServerConnection
    codes: frozenset[str] = frozenset()
    fmt: str = "DEFAULT"
    realtime: bool = True
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    status_task: asyncio.Task[None] | None = None


class UpbitRequestError(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def parse_request(data: str | bytes) -> tuple[frozenset[str], str, bool, bool]:
    """Parse a subscription request → (codes, format, snapshot wanted, realtime wanted); raise UpbitRequestError."""
    try:
        request = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UpbitRequestError("WRONG_FORMAT", "request is not JSON") from exc
    if not isinstance(request, list) or not all(isinstance(item, dict) for item in request):
        raise UpbitRequestError("WRONG_FORMAT", "request must be a JSON array of objects")
    if not any("ticket" in item for item in request):
        raise UpbitRequestError("NO_TICKET", "ticket is missing")
    types = [item for item in request if "type" in item]
    if not types:
        raise UpbitRequestError("NO_TYPE", "type is missing")
    fmt = "DEFAULT"
    for item in request:
        if "format" in item:
            fmt = str(item["format"]).upper()
            if fmt not in FORMATS:
                raise UpbitRequestError("INVALID_PARAM", f"unknown format {item['format']!r}")
    codes: set[str] = set()
    snapshot = realtime = False
    for item in types:
        if item["type"] != "ticker":
            raise UpbitRequestError("INVALID_PARAM", f"type {item['type']!r} is not served by this server")
        item_codes = item.get("codes")
        if not item_codes or not isinstance(item_codes, list):
            raise UpbitRequestError("NO_CODES", "codes is missing")
        for code in item_codes:
            if not isinstance(code, str) or code != code.upper():
                raise UpbitRequestError("INVALID_PARAM", f"code {code!r} must be upper case")
        codes.update(item_codes)
        only_snapshot = bool(item.get("is_only_snapshot", item.get("isOnlySnapshot", False)))
        only_realtime = bool(item.get("is_only_realtime", item.get("isOnlyRealtime", False)))
        snapshot = snapshot or not only_realtime
        realtime = realtime or not only_snapshot
    return frozenset(codes), fmt, snapshot, realtime


def encode(message: dict[str, Any], fmt: str) -> bytes:
    if fmt == "SIMPLE":
        return orjson.dumps(to_simple(message))
    if fmt == "JSON_LIST":
        return orjson.dumps([message])
    if fmt == "SIMPLE_LIST":
        return orjson.dumps([to_simple(message)])
    return orjson.dumps(message)


_GARBAGE: tuple[bytes, ...] = (
    b"\xff\xfe\x00 not utf-8 at all",
    b'{"type":"ticker","code":"KRW-BTC","trade_price":',
    b"[1, 2, 3]",
    b'{"type":"ticker","code":"KRW-BTC","trade_price":"abc","trade_timestamp":1767243600000}',
    b'{"type":"ticker","code":"KRW-BTC","trade_price":100.0,"trade_timestamp":12}',
    b'{"type":"ticker","code":"KRW-ETH","trade_price":1e400,"trade_timestamp":1767243600000}',
    b'{"type":"ticker","code":"krw-btc\'; DROP TABLE ticker_data;--","trade_price":1.0,'
    b'"trade_timestamp":1767243600000}',
    b'{"type":"ticker","code":"KRW-XRP","trade_price":-5.0,"trade_volume":-1,"trade_timestamp":1767243600000}',
    b"null",
    b"",
)


class FakeUpbitServer:
    """Serve a message source over Upbit's protocol. Use `serve()` in asyncio, or `start_in_thread()` in tests."""

    def __init__(
        self,
        source: Source,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float | None = 1.0,
        faults: Faults | None = None,
        labels_path: Path | None = None,
        record_sent: bool = False,
        status_interval: float = 10.0,
        rest_limits: RestLimits | None = None,
    ) -> None:
        self.source = source
        self.book = CandleBook()
        history = getattr(source, "rest_history", None)
        self.rest = CandleService(
            self.book,
            history=history if callable(history) else None,
            known=lambda: {str(m.get("market")) for m in self._catalog},
            limits=rest_limits or RestLimits(),
        )
        self._blacked_out = False
        self.status_interval = status_interval
        self.host = host
        self.port = port
        self.speed = speed
        self.faults = faults or Faults()
        self.labels_path = labels_path
        self.record_sent = record_sent
        self.sent_messages: list[dict[str, Any]] = []
        self.garbage_sent: list[bytes] = []
        self.stats = ServerStats()
        self.feed_done = False
        self._catalog = source.catalog()
        self._clients: set[_Client] = set()
        self._latest: dict[str, dict[str, Any]] = {}
        self._subscribed = asyncio.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stalled_once = False
        self._garbage_cycle = itertools.cycle(self.faults.garbage_frames or _GARBAGE)
        self._error: BaseException | None = None

    # --- public ---------------------------------------------------------------------------------------
    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/websocket/v1"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def set_catalog(self, catalog: list[dict[str, Any]]) -> None:
        """Replace the REST catalog (tests: listings and delistings)."""
        self._catalog = list(catalog)

    async def serve(self, on_ready: Callable[[FakeUpbitServer], None] | None = None) -> None:
        self._stop = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        server: Server
        async with serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            compression=None,
            max_size=2**20,
            ping_interval=None,
        ) as server:
            sockets = list(server.sockets)
            self.port = int(sockets[0].getsockname()[1])
            feed = asyncio.create_task(self._feed())
            status = asyncio.create_task(self._status_loop())
            if on_ready:
                on_ready(self)
            await self._stop.wait()
            feed.cancel()
            status.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feed
            for client in list(self._clients):
                client.connection.transport.abort()

    def start_in_thread(self) -> FakeUpbitServer:
        def run() -> None:
            try:
                asyncio.run(self.serve(lambda _s: self._ready.set()))
            except BaseException as exc:  # noqa: BLE001 (surfaced by start_in_thread)
                self._error = exc
                self._ready.set()

        self._thread = threading.Thread(target=run, name="fake-upbit", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error:
            raise RuntimeError(f"fake-upbit failed to start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread:
            self._thread.join(10)

    def status_line(self) -> str:
        st = self.stats
        return (
            f"fake-upbit clients={len(self._clients)} sent={st.sent} connections={st.connections} "
            f"drops={st.drops} garbage={st.garbage} errors_sent={st.errors_sent} feed_done={self.feed_done}"
        )

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self.status_interval)
            log.info("%s", self.status_line())

    # --- HTTP -----------------------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Origin"):
            self.stats.origin_headers += 1
        path, _, query = request.path.partition("?")
        if path == "/websocket/v1":
            if self._blacked_out:
                return connection.respond(503, "outage (fault injection)\n")
            return None
        if path.startswith("/v1/candles/minutes/"):
            status, extra, body = self.rest.handle(path, query, bool(request.headers.get("Origin")))
            # websockets answers one HTTP request per connection: say so, or pooling clients reuse a closed socket.
            headers = Headers(
                [
                    ("Content-Type", "application/json; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                    ("Connection", "close"),
                ]
            )
            for key, value in extra.items():
                headers[key] = value
            reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 418: "I'm a teapot", 429: "Too Many Requests"}
            return Response(status, reason.get(status, "Error"), headers, body)
        if path == "/v1/market/all":
            body = orjson.dumps(self._catalog)
            headers = Headers([("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(body)))])
            return Response(200, "OK", headers, body)
        return connection.respond(
            404, f"not found: {path} (this server offers /websocket/v1, /v1/market/all, /v1/candles/minutes/N)\n"
        )

    # --- WebSocket --------------------------------------------------------------------------------------
    async def _handle(self, connection: ServerConnection) -> None:
        client = _Client(connection)
        self._clients.add(client)
        self.stats.connections += 1
        sender = asyncio.create_task(self._sender(client))
        try:
            async for data in connection:
                await self._on_request(client, data)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)
            sender.cancel()
            if client.status_task:
                client.status_task.cancel()

    async def _on_request(self, client: _Client, data: str | bytes) -> None:
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
        if text.strip() == "PING":
            await client.connection.send(b'{"status":"UP"}')
            if client.status_task is None:
                client.status_task = asyncio.create_task(self._status_every_10s(client))
            return
        self.stats.requests += 1
        try:
            request = orjson.loads(text)
            if isinstance(request, list) and any(isinstance(i, dict) and "method" in i for i in request):
                answer = {"method": "LIST_SUBSCRIPTIONS", "result": [{"type": "ticker", "codes": sorted(client.codes)}]}
                await client.connection.send(orjson.dumps(answer))
                return
        except orjson.JSONDecodeError:
            pass
        try:
            codes, fmt, snapshot, realtime = parse_request(text)
        except UpbitRequestError as exc:
            self.stats.errors_sent += 1
            await client.connection.send(orjson.dumps({"error": {"name": exc.name, "message": str(exc)}}))
            return
        client.codes, client.fmt, client.realtime = codes, fmt, realtime
        if snapshot:
            now = int(time.time() * 1000)
            for code in sorted(codes):
                latest = self._latest.get(code)
                if latest:
                    await client.connection.send(encode(dict(latest, stream_type="SNAPSHOT", timestamp=now), fmt))
        if realtime:
            self._subscribed.set()

    async def _status_every_10s(self, client: _Client) -> None:
        while True:
            await asyncio.sleep(10)
            await client.connection.send(b'{"status":"UP"}')

    @staticmethod
    def _write_frames(connection: ServerConnection, frames: list[bytes]) -> None:
        """Write several binary frames with one socket write: a syscall per frame would cap the server at a few
        thousand frames/s. Uses the sans-I/O protocol object of websockets directly (no await in between, so
        nothing else can interleave)."""
        if not frames:
            return
        protocol = connection.protocol
        for frame in frames:
            protocol.send_binary(frame)
        connection.transport.write(b"".join(protocol.data_to_send()))
        frames.clear()

    async def _sender(self, client: _Client) -> None:
        faults = self.faults
        connection = client.connection
        out: list[bytes] = []
        try:
            while True:
                batch = [await client.queue.get()]
                while len(batch) < 256 and not client.queue.empty():
                    batch.append(client.queue.get_nowait())
                for message in batch:
                    out.append(encode(message, client.fmt))
                    self.stats.sent += 1
                    if self.record_sent:
                        self.sent_messages.append(message)
                    sent = self.stats.sent
                    if faults.garbage_every and sent % faults.garbage_every == 0:
                        if not faults.max_garbage or self.stats.garbage < faults.max_garbage:
                            junk = next(self._garbage_cycle)
                            out.append(junk)
                            self.stats.garbage += 1
                            if self.record_sent:
                                self.garbage_sent.append(junk)
                    if faults.stall_after and not self._stalled_once and sent >= faults.stall_after:
                        self._stalled_once = True
                        self.stats.stalls += 1
                        self._write_frames(connection, out)
                        log.info("fault: stalling connection silently after=%d", sent)
                        self._clients.discard(client)
                        await asyncio.Event().wait()  # silent until the client gives up
                    if faults.drop_every and sent % faults.drop_every == 0:
                        if not faults.max_drops or self.stats.drops < faults.max_drops:
                            self.stats.drops += 1
                            self._clients.discard(client)
                            self._write_frames(connection, out)
                            await self._drain(connection)
                            log.info("fault: dropping connection after=%d drops=%d", sent, self.stats.drops)
                            connection.transport.abort()
                            return
                self._write_frames(connection, out)
                # Backpressure: let the socket drain before taking more (keeps memory bounded at max speed).
                while connection.transport.get_write_buffer_size() > 4 * 1024 * 1024:
                    await asyncio.sleep(0.002)
        except (ConnectionClosed, InvalidState):
            return

    @staticmethod
    async def _drain(connection: ServerConnection) -> None:
        """Wait until what was sent has left the process, so a message counted as sent really was."""
        for _ in range(500):
            if connection.transport.get_write_buffer_size() == 0:
                return
            await asyncio.sleep(0.002)

    # --- feed -----------------------------------------------------------------------------------------
    async def _feed(self) -> None:
        await self._subscribed.wait()
        iterator = iter(self.source.messages())
        pending_labels: list[SimEvent] | None = None
        start_wall = time.monotonic()
        first_ms: int | None = None
        for count, message in enumerate(iterator, 1):
            if pending_labels is None:
                pending_labels = sorted(self.source.events(), key=lambda e: e.onset_ms)
            ts = message.get("trade_timestamp")
            if isinstance(ts, int):
                if first_ms is None:
                    first_ms = ts
                    # A live simulator stamps its clock when it is built, seconds before the first client subscribes
                    # (the feed waits for it): send those seconds at once, so from then on a fill goes out at its
                    # event time, as on Upbit. Otherwise every event time lags the wall clock by the wait and an
                    # alert-latency figure counts it. A replay of older data (behind by more than a minute) keeps
                    # its pace from the first message.
                    behind_s = time.time() - ts / 1000
                    if self.speed == 1.0 and 0 < behind_s < 60:
                        start_wall -= behind_s
                if self.speed is not None:
                    delay = start_wall + (ts - first_ms) / 1000 / self.speed - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                while pending_labels and pending_labels[0].onset_ms <= ts:
                    self._write_label(pending_labels.pop(0))
            code = message.get("code")
            if isinstance(code, str):
                self._latest[code] = message
            self.book.add(message)
            if self.faults.blackout_ms is not None and isinstance(ts, int):
                if await self._blackout(ts):
                    self.stats.fed += 1
                    count += 1
                    continue
            await self._deliver(message, code)
            self.stats.fed += 1
            if count % 512 == 0:
                await asyncio.sleep(0)  # let senders and handshakes run even at max speed
        self.feed_done = True
        log.info("feed finished messages=%d", self.stats.fed)

    async def _blackout(self, ts: int) -> bool:
        """True while `ts` is inside the blackout window; entering it drops every connection (after what was
        queued before the window has left the process, so the outage is exactly the window)."""
        assert self.faults.blackout_ms is not None
        start, end = self.faults.blackout_ms
        inside = start <= ts < end
        if inside and not self._blacked_out:
            self._blacked_out = True  # refuse new connections from now on
            log.info("fault: blackout from=%d to=%d", start, end)
            for client in list(self._clients):
                for _ in range(2500):
                    if client.queue.empty():
                        break
                    await asyncio.sleep(0.002)
                await asyncio.sleep(0.01)  # the sender writes its last batch
                await self._drain(client.connection)
                self._clients.discard(client)
                # close (FIN after the kernel has sent what it holds), not abort: an RST makes the client's kernel
                # discard what it has received but not yet read, and those messages would be lost though "sent".
                client.connection.transport.close()
        self._blacked_out = inside
        return inside

    async def _deliver(self, message: dict[str, Any], code: Any) -> None:
        while True:
            targets = [c for c in self._clients if c.realtime and code in c.codes]
            if targets or self.speed is not None:
                break
            await asyncio.sleep(0.005)  # max speed: nobody subscribed (e.g. reconnecting) → wait, lose nothing
        for client in targets:
            if self.speed is None:
                while client.queue.full() and client in self._clients:
                    await asyncio.sleep(0.001)
            try:
                client.queue.put_nowait(message)
            except asyncio.QueueFull:
                log.warning("client too slow, disconnecting queued=%d", client.queue.qsize())
                self._clients.discard(client)
                client.connection.transport.abort()

    def _write_label(self, event: SimEvent) -> None:
        if self.labels_path is None:
            return
        with self.labels_path.open("ab") as fh:
            fh.write(orjson.dumps(event.label()) + b"\n")
