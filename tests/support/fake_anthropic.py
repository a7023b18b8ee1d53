"""A local stand-in for the Anthropic Messages API: a real HTTP server the real SDK reaches through base_url.

POST /v1/messages answers like the API (message object, usage with cache tokens, request-id header, error objects
with `retry-after`); POST /v1/messages/count_tokens counts messages, system and tools with the offline BPE. Every
request is recorded (path, headers, JSON body, arrival time). Responses are scripted in order with `enqueue(...)`;
when the script is empty the default answer copies the first lines of the CONTEXT it was sent, so it is grounded by
construction.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from analytics.tokens import count_tokens

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class Scripted:
    """One scripted response. `text` may be a callable taking the request body."""

    status: int = 200
    text: str | Callable[[dict[str, Any]], str] | None = None
    retry_after: float | None = None  # seconds, sent as `retry-after`
    delay: float = 0.0  # sleep before answering (longer than the client's timeout → a timeout)
    usage: dict[str, int] | None = None  # override the computed usage
    # Tool use: content blocks to answer with instead of text (stop_reason tool_use when any is a tool_use).
    blocks: list[dict[str, Any]] | Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None

    @classmethod
    def tool_use(cls, *calls: tuple[str, dict[str, Any]]) -> Scripted:
        """A reply calling these tools (name, input), in one turn."""
        return cls(
            blocks=[
                {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": name, "input": args}
                for name, args in calls
            ]
        )

    @classmethod
    def error(cls, status: int, *, retry_after: float | None = None) -> Scripted:
        return cls(status=status, retry_after=retry_after)

    @classmethod
    def answer(cls, text: str | Callable[[dict[str, Any]], str]) -> Scripted:
        return cls(text=text)

    @classmethod
    def slow(cls, seconds: float) -> Scripted:
        return cls(delay=seconds)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float  # time.monotonic() on arrival
    status: int = 0  # what was answered


@dataclass
class FakeAnthropic:
    """Start with `with FakeAnthropic() as fake:`; point the SDK at `fake.url`."""

    host: str = "127.0.0.1"
    port: int = 0
    # The real API caches only prefixes of at least this many tokens (4096 for Haiku 4.5); 0 caches any marked prefix.
    min_cacheable_tokens: int = 0
    requests: list[Recorded] = field(default_factory=list)
    _script: deque[Scripted] = field(default_factory=deque)
    _seen_system: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeAnthropic:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                fake._handle(self)

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-anthropic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ scripting and inspection
    def enqueue(self, *responses: Scripted) -> None:
        with self._lock:
            self._script.extend(responses)

    def message_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == "/v1/messages"]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self._seen_system.clear()

    # ------------------------------------------------------------------ protocol
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        record = Recorded(
            path=handler.path.split("?", 1)[0],
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
            at=time.monotonic(),
        )
        with self._lock:
            self.requests.append(record)
        if record.path == "/v1/messages/count_tokens":
            if not (record.headers.get("x-api-key") or record.headers.get("authorization")):
                record.status = 401
                self._send(handler, 401, _error(401, "missing x-api-key or authorization header"))
                return
            record.status = 200
            self._send(handler, 200, {"input_tokens": count_request_tokens(body)})
            return
        if record.path != "/v1/messages":
            record.status = 404
            self._send(handler, 404, _error(404, f"no route {record.path}"))
            return
        if not (record.headers.get("x-api-key") or record.headers.get("authorization")):
            record.status = 401
            self._send(handler, 401, _error(401, "missing x-api-key or authorization header"))
            return
        problem = _validate(body)
        if problem:
            record.status = 400
            self._send(handler, 400, _error(400, problem))
            return
        with self._lock:
            step = self._script.popleft() if self._script else Scripted()
        if step.delay:
            time.sleep(step.delay)
        record.status = step.status
        if step.status != 200:
            headers = {}
            if step.retry_after is not None:
                headers["retry-after"] = f"{step.retry_after:g}"
            self._send(handler, step.status, _error(step.status, "scripted error"), headers)
            return
        if step.blocks is not None:
            blocks = step.blocks(body) if callable(step.blocks) else step.blocks
            self._send(handler, 200, self._message(body, "", step.usage, blocks))
            return
        scripted = step.text(body) if callable(step.text) else step.text
        reply = default_answer(body) if scripted is None else scripted
        self._send(handler, 200, self._message(body, reply, step.usage))

    def _message(
        self,
        body: dict[str, Any],
        text: str,
        usage: dict[str, int] | None,
        blocks: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        system = body.get("system") or []
        system_text = system if isinstance(system, str) else "".join(b.get("text", "") for b in system)
        user_text = json.dumps(body.get("messages", []), ensure_ascii=False)
        sys_tokens = count_tokens(system_text)
        marked = not isinstance(system, str) and any(b.get("cache_control") for b in system)
        cached = marked and sys_tokens >= self.min_cacheable_tokens
        cache_creation = cache_read = 0
        if cached:
            with self._lock:
                if system_text in self._seen_system:
                    cache_read = sys_tokens
                else:
                    cache_creation = sys_tokens
                    self._seen_system.add(system_text)
        tools_tokens = count_tokens(json.dumps(body["tools"], ensure_ascii=False)) if body.get("tools") else 0
        content = blocks if blocks is not None else [{"type": "text", "text": text}]
        computed = {
            "input_tokens": count_tokens(user_text) + (0 if cached else sys_tokens) + tools_tokens,
            "output_tokens": max(1, count_tokens(json.dumps(content, ensure_ascii=False))),
            "cache_creation_input_tokens": cache_creation,
            "cache_read_input_tokens": cache_read,
        }
        computed.update(usage or {})
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": "tool_use" if any(b.get("type") == "tool_use" for b in content) else "end_turn",
            "stop_sequence": None,
            "usage": computed,
        }

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(data)))
            handler.send_header("request-id", f"req_{uuid.uuid4().hex[:20]}")
            for k, v in (headers or {}).items():
                handler.send_header(k, v)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): nothing to answer


def count_request_tokens(body: dict[str, Any]) -> int:
    """The stand-in's count: messages, system and tools each counted by the offline BPE, summed (so the tokens a
    `tools` list adds are exactly the count of its JSON)."""
    parts = [json.dumps(body.get("messages", []), ensure_ascii=False)]
    if body.get("system"):
        parts.append(json.dumps(body["system"], ensure_ascii=False))
    if body.get("tools"):
        parts.append(json.dumps(body["tools"], ensure_ascii=False))
    return sum(count_tokens(p) for p in parts)


def _error(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}}


def _validate(body: dict[str, Any]) -> str | None:
    """The checks the real API makes that matter here: model, max_tokens, messages."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    return None


def tool_results(body: dict[str, Any]) -> list[str]:
    """The tool_result contents the client sent back, oldest first."""
    out = []
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    c = block.get("content")
                    out.append(c if isinstance(c, str) else json.dumps(c, ensure_ascii=False))
    return out


def context_of(body: dict[str, Any]) -> str:
    """The CONTEXT block of the last user message."""
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content", "")
    if isinstance(content, list):
        content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
    m = re.search(r"<CONTEXT>\n?(.*?)\n?</CONTEXT>", content, re.S)
    return m.group(1) if m else content


def default_answer(body: dict[str, Any]) -> str:
    """A grounded answer: the first lines of the CONTEXT, verbatim (as JSON for interpretation requests)."""
    lines = [line for line in context_of(body).splitlines() if line.strip()][:3]
    text = " ".join(lines)
    system = json.dumps(body.get("system", ""), ensure_ascii=False)
    if "cause_category" in system:
        return json.dumps(
            {"cause_category": "whale_trade", "confidence": "medium", "watch_next": ["traded value"], "text": text},
            ensure_ascii=False,
        )
    return text


def with_planted_number(wrong: str) -> Callable[[dict[str, Any]], str]:
    """A responder giving the grounded default answer plus a figure that is not in the context."""

    def respond(body: dict[str, Any]) -> str:
        return default_answer(body) + f" {wrong}"

    return respond
