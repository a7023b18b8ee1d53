"""Optional bearer-token protection of every dashboard route (API, pages, live stream, static files).

When `WEB_TOKEN` is set, a request is let in with `Authorization: Bearer <token>` (API clients), a session cookie
(browsers), or `?token=<token>` on a page, which sets that cookie and redirects to the same URL without the token
(so it does not stay in the address bar or history). The cookie holds an HMAC of the token, not the token itself.
`/healthz` stays open for container health checks; it says nothing but "ok".
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import re
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

COOKIE_NAME = "upbit_web_session"
OPEN_PATHS = frozenset({"/healthz"})


def cookie_value(token: str) -> str:
    """What the browser keeps: an HMAC of the token, so the token itself is never stored client-side."""
    return hmac.new(token.encode(), b"upbit-llm dashboard session", hashlib.sha256).hexdigest()


def _bearer(headers: Headers) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, credential = value.partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    return None


def _cookie(headers: Headers) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # noqa: BLE001 - a malformed Cookie header is just "no cookie"
        return None
    morsel = jar.get(COOKIE_NAME)
    return morsel.value if morsel else None


class TokenAuthMiddleware:
    """Pure ASGI middleware (works with streaming responses such as server-sent events)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token
        self.session = cookie_value(token)

    def _matches(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        query_token = next((v for k, v in query if k == "token"), None)

        if self._matches(_bearer(headers)):
            await self.app(scope, receive, send)
            return
        session = _cookie(headers)
        if session is not None and hmac.compare_digest(session.encode(), self.session.encode()):
            await self.app(scope, receive, send)
            return
        if self._matches(query_token):
            if scope["method"] == "GET" and not scope["path"].startswith("/api/"):
                # A page opened with ?token=: remember it in a cookie and drop it from the URL.
                rest = urlencode([(k, v) for k, v in query if k != "token"])
                redirect = RedirectResponse(scope["path"] + (f"?{rest}" if rest else ""), status_code=303)
                self._set_cookie(redirect, scope)
                await redirect(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return

        client = scope.get("client") or ("?", 0)
        log.info("dashboard request refused path=%s client=%s", scope["path"], client[0])
        await self._refuse(scope, headers, wrong=query_token is not None or _bearer(headers) is not None)(
            scope, receive, send
        )

    def _set_cookie(self, response: Response, scope: Scope) -> None:
        response.set_cookie(
            COOKIE_NAME,
            self.session,
            httponly=True,
            samesite="strict",
            secure=scope.get("scheme") == "https",
            path="/",
            max_age=30 * 86_400,
        )

    def _refuse(self, scope: Scope, headers: Headers, *, wrong: bool) -> Response:
        path: str = scope["path"]
        wants_html = "text/html" in headers.get("accept", "") and not path.startswith("/api/")
        if not wants_html:
            return JSONResponse(
                {
                    "error": "unauthorized",
                    "detail": "this dashboard needs its token: send `Authorization: Bearer <WEB_TOKEN>`",
                },
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="upbit-llm"'},
            )
        message = "The token was wrong." if wrong else "This dashboard is protected by a token."
        body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>upbit-llm — token</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>body{{font:16px system-ui,sans-serif;background:#10151c;color:#e6e9ee;display:grid;place-items:center;
height:100vh;margin:0}}form{{background:#18202a;padding:2rem;border-radius:8px}}input{{font:inherit;padding:.4rem;
margin:.5rem 0;width:18rem}}button{{font:inherit;padding:.4rem 1rem}}</style></head><body>
<form method="get" action="{html.escape(path, quote=True)}"><h1>upbit-llm</h1>
<p>{message} 토큰을 입력하세요 / enter the token (WEB_TOKEN):</p>
<input type="password" name="token" autofocus autocomplete="current-password">
<button type="submit">OK</button></form></body></html>"""
        return HTMLResponse(body, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="upbit-llm"'})


_TOKEN_IN_QUERY = re.compile(r"(?i)([?&]token=)[^&\s\"]*")


class RedactTokenFilter(logging.Filter):
    """Masks `?token=...` in access-log lines (uvicorn logs the full request path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = _TOKEN_IN_QUERY.sub(r"\1***", record.msg)
        return True
