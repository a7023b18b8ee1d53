"""The dashboard application factory: `build_app(settings)` wires the read pool, live hub, API, pages and assets."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboard import api, pages
from dashboard.auth import SessionStore, TokenAuthMiddleware
from dashboard.data import DataSource
from dashboard.database import ReadPool
from dashboard.live import LiveHub
from upbit_core import __version__
from upbit_core.settings import Settings
from upbit_core.web_guard import HostOriginGuard, RateLimiter, allowed_hosts, is_loopback

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"

# Everything the pages load comes from this server: no CDN, no inline script (the JSON data blocks do not run).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


class SecurityHeaders:
    """Adds the CSP and a few standard headers to every response (pure ASGI: streaming stays streaming)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _static_url_factory() -> Callable[[str], str]:
    """`static('app.js')` → '/static/app.js?v=<content hash>' so a new version is never served from cache."""
    cache: dict[str, str] = {}

    def static(path: str) -> str:
        if path not in cache:
            file = (STATIC_DIR / path).resolve()
            digest = hashlib.sha256(file.read_bytes()).hexdigest()[:10] if file.is_file() else __version__
            cache[path] = f"/static/{path}?v={digest}"
        return cache[path]

    return static


class InsecureBind(ValueError):
    """Refusal to serve the dashboard beyond loopback without WEB_TOKEN."""


def build_app(settings: Settings, *, pool_size: int = 4) -> FastAPI:
    """The dashboard as an ASGI app. Nothing connects until start-up; nothing global is shared between apps."""
    if not is_loopback(settings.web_host) and not settings.web_token.get_secret_value():
        raise InsecureBind(
            f"refusing to serve the dashboard on {settings.web_host} without a token: set WEB_TOKEN, or bind 127.0.0.1"
        )
    pool = ReadPool(settings, size=pool_size)
    # A market number may be reused for at most one live-feed period (and never more than 2 s).
    data = DataSource(pool, max_age=min(settings.web_refresh_seconds, 2.0))
    hub = LiveHub(data.snapshot, settings.web_refresh_seconds)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await pages.warm(data)
        hub.start()
        log.info("dashboard started refresh_seconds=%s auth=%s", settings.web_refresh_seconds, bool(token))
        try:
            yield
        finally:
            await hub.stop()
            pool.close()

    app = FastAPI(
        title="upbit-llm dashboard API",
        version=__version__,
        description="Market overview, coin briefs, candles, anomalies, summaries and coin Q&A, all computed by the "
        "analytics layer. Units: *_pct = signed percent, *_krw = KRW. With WEB_TOKEN set, send "
        "`Authorization: Bearer <token>`.",
        lifespan=lifespan,
        # Swagger UI and ReDoc load their code from a CDN; the dashboard serves nothing from one. The schema stays.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.ask_limiter = RateLimiter(settings.web_ask_per_minute, settings.web_ask_burst)
    app.state.data = data
    app.state.hub = hub
    app.state.templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    app.state.static_url = _static_url_factory()

    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    token = settings.web_token.get_secret_value()
    if token:
        app.state.sessions = SessionStore()
        app.add_middleware(TokenAuthMiddleware, token=token, sessions=app.state.sessions)
    app.add_middleware(SecurityHeaders)
    # Outermost: a request for another Host (DNS rebinding) or from another Origin never reaches auth or the app.
    app.add_middleware(
        HostOriginGuard, hosts=allowed_hosts(settings.web_host, settings.web_allowed_hosts), open_paths={"/healthz"}
    )
    return app
