"""Optional bearer-token protection of every dashboard route (API, pages, live stream, static files).

When `WEB_TOKEN` is set, a request is let in with `Authorization: Bearer <token>` (API clients, any case of
"Bearer"), a session cookie (browsers), or `?token=<token>` on a page, which starts a session and redirects to the
same URL without the token (so it does not stay in the address bar or history). Sessions are revocable: the
cookie holds a random session id known only to this server (never the token or anything derived from it);
`POST /logout` ends one, `revoke_all()` ends every one, and a restart (e.g. after changing WEB_TOKEN) ends them
all. `/healthz` stays open for container health checks; it says nothing but "ok".
"""

from __future__ import annotations

import hmac
import html
import logging
import re
import secrets
import threading
import time
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from upbit_core.web_guard import bearer_token

log = logging.getLogger(__name__)

COOKIE_NAME = "upbit_web_session"
OPEN_PATHS = frozenset({"/healthz"})
LOGOUT_PATH = "/logout"
SESSION_SECONDS = 30 * 86_400
MAX_SESSIONS = 10_000


def _bearer(headers: Headers) -> str | None:
    return bearer_token(headers.get("authorization", ""))


class SessionStore:
    """Live browser sessions (random ids → expiry), in this process only. Thread-safe."""

    def __init__(self, lifetime_s: float = SESSION_SECONDS) -> None:
        self.lifetime_s = lifetime_s
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def start(self) -> str:
        session = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            if len(self._expiry) >= MAX_SESSIONS:
                self._expiry = {k: v for k, v in self._expiry.items() if v > now}
                while len(self._expiry) >= MAX_SESSIONS:
                    del self._expiry[next(iter(self._expiry))]
            self._expiry[session] = now + self.lifetime_s
        return session

    def valid(self, session: str | None) -> bool:
        if not session:
            return False
        with self._lock:
            expiry = self._expiry.get(session)
            if expiry is None:
                return False
            if expiry < time.time():
                del self._expiry[session]
                return False
        return True

    def revoke(self, session: str | None) -> bool:
        with self._lock:
            return self._expiry.pop(session or "", None) is not None

    def revoke_all(self) -> int:
        with self._lock:
            count = len(self._expiry)
            self._expiry.clear()
        return count


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

    def __init__(self, app: ASGIApp, token: str, sessions: SessionStore | None = None) -> None:
        self.app = app
        self.token = token
        self.sessions = sessions or SessionStore()

    def _matches(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        query_token = next((v for k, v in query if k == "token"), None)

        session = _cookie(headers)
        if scope["path"] == LOGOUT_PATH and scope["method"] == "POST":
            self.sessions.revoke(session)
            response = JSONResponse({"status": "logged out"})
            response.delete_cookie(COOKIE_NAME, path="/")
            await response(scope, receive, send)
            return
        if self._matches(_bearer(headers)):
            await self.app(scope, receive, send)
            return
        if self.sessions.valid(session):
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
            self.sessions.start(),
            httponly=True,
            samesite="strict",
            secure=scope.get("scheme") == "https",
            path="/",
            max_age=int(self.sessions.lifetime_s),
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
