"""A real local HTTP receiver standing in for Slack incoming webhooks and generic webhook endpoints.

It records every request (path, headers, raw body, parsed JSON) and answers from a script: e.g.
`Receiver(script=[Reply(500)] * 3)` fails three times with 500 and then answers 200; `Reply(429,
retry_after="1")` asks for a pause; `Reply(200, delay=30)` holds the response (a receiver that is slow to answer,
used to kill a sender while its request is in flight). `dedupe_header` makes it behave like a well-behaved
webhook consumer that drops repeated idempotency keys (still recording them).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = "ok"
    retry_after: str | None = None
    delay: float = 0.0


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    status: int = 0

    @property
    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def header(self, name: str) -> str | None:
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None


@dataclass
class Receiver:
    script: list[Reply] = field(default_factory=list)
    default: Reply = field(default_factory=Reply)
    requests: list[Recorded] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def path_url(self, path: str) -> str:
        return self.url + path

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rec = Recorded(self.path, {k: v for k, v in self.headers.items()}, body, time.time())
                with receiver._lock:
                    receiver.requests.append(rec)
                    reply = receiver.script.pop(0) if receiver.script else receiver.default
                receiver.arrived.set()
                if reply.delay:
                    time.sleep(reply.delay)
                rec.status = reply.status
                payload = reply.body.encode()
                try:
                    self.send_response(reply.status)
                    if reply.retry_after is not None:
                        self.send_header("Retry-After", reply.retry_after)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender went away (e.g. it was killed while waiting)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests) >= count:
                return True
            time.sleep(0.02)
        return len(self.requests) >= count


@contextmanager
def running_receiver(script: list[Reply] | None = None, default: Reply | None = None) -> Iterator[Receiver]:
    """`with running_receiver([Reply(500)] * 3) as rx: ... rx.url ...` — a real HTTP server on a free port."""
    rx = Receiver(script=list(script or []), default=default or Reply())
    rx.start()
    try:
        yield rx
    finally:
        rx.stop()
