"""Streamable HTTP transport: loopback by default, a bearer token required off loopback and checked when set
(any case of "Bearer"), and the Host/Origin allow-list (loopback names plus MCP_ALLOWED_HOSTS) on any bind."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from upbit_core.settings import Settings
from upbit_core.web_guard import HostOriginGuard, allowed_hosts, bearer_token
from upbit_mcp.server import build_server

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
MCP_PATH = "/mcp"


class InsecureBind(ValueError):
    """Refusal to serve MCP off loopback without a bearer token."""


def check_bind(host: str, token: str) -> None:
    if host not in LOOPBACK_HOSTS and not token:
        raise InsecureBind(
            f"refusing to serve MCP on {host} without a bearer token: set MCP_TOKEN (clients then send "
            "'Authorization: Bearer <token>'), or bind 127.0.0.1"
        )


class BearerAuth:
    """ASGI middleware: every HTTP request must carry `Authorization: Bearer <token>` (constant-time compare)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            supplied = b""
            for key, value in scope.get("headers", []):
                if key.lower() == b"authorization":
                    # The scheme is case-insensitive (RFC 7235): "bearer", "BEARER" and "Bearer" all count.
                    supplied = (bearer_token(value.decode("latin-1")) or "").encode("latin-1")
                    break
            if not hmac.compare_digest(supplied, self.expected):
                body = json.dumps({"error": "unauthorized", "detail": "send Authorization: Bearer <MCP_TOKEN>"})
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                    }
                )
                await send({"type": "http.response.body", "body": body.encode()})
                return
        await self.app(scope, receive, send)


def build_http_app(settings: Settings, host: str) -> Any:
    """The ASGI app: the SDK's streamable HTTP app, behind BearerAuth when MCP_TOKEN is set."""
    token = settings.mcp_token.get_secret_value()
    check_bind(host, token)
    app: Any = build_server(settings).streamable_http_app(streamable_http_path=MCP_PATH, host=host)
    if token:
        app = BearerAuth(app, token)
    # Outermost, on every bind (the SDK guards loopback binds only): a request addressed to another Host, or sent
    # from a page of another Origin, never reaches the token check or a tool.
    return HostOriginGuard(app, allowed_hosts(host, settings.mcp_allowed_hosts))


def serve_http(settings: Settings, host: str, port: int) -> None:
    import uvicorn  # only the HTTP transport serves with uvicorn; stdio never loads it

    app = build_http_app(settings, host)
    auth = "bearer token required" if settings.mcp_token.get_secret_value() else "no token (loopback only)"
    log.info("mcp http serving url=http://%s:%s%s auth=%s", host, port, MCP_PATH, auth)
    uvicorn.run(app, host=host, port=port, log_level="warning")
