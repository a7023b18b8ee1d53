"""The dashboard's HTML pages: `/` (market overview) and `/coin/{market}` (chart, brief, anomalies, Q&A).

Pages are rendered with their first data embedded as JSON (from the same DataSource calls as the API), so the
first paint needs no extra round trip; the page's JavaScript keeps them live.
"""

from __future__ import annotations

import logging
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dashboard.api import MARKET_CODE, call, normalise_market
from dashboard.data import DataSource
from dashboard.i18n import LANG_COOKIE, choose_lang, parse_lang, strings

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
CHART_CANDLES = 300


def _render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    settings = request.app.state.settings
    lang = choose_lang(request, settings.report_language)
    role = request.app.state.data.pool.role_if_known()
    base = {
        "lang": lang,
        "t": strings(lang),
        "refresh_ms": int(settings.web_refresh_seconds * 1000),
        "db_role": "" if role is None else f"DB {role.role}" + ("" if role.readonly_role else " (writer, read-only)"),
        "static": request.app.state.static_url,
    }
    response = request.app.state.templates.TemplateResponse(
        request, template, {**base, **context}, status_code=status_code
    )
    asked = parse_lang(request.query_params.get("lang"))
    if asked:
        response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86_400, samesite="lax", httponly=False)
    return response


def _error_page(request: Request, exc: HTTPException) -> Response:
    # A page that cannot load its data says why in the page, not as JSON (the API keeps JSON errors).
    context = {"status": exc.status_code, "detail": exc.detail, "boot": {}}
    return _render(request, "error.html", context, exc.status_code)


@router.get("/", response_class=HTMLResponse)
async def overview_page(request: Request) -> Response:
    data: DataSource = request.app.state.data
    try:
        snapshot = await call(data.snapshot)
    except HTTPException as exc:
        return _error_page(request, exc)
    return _render(request, "overview.html", {"boot": snapshot.model_dump(mode="json")})


@router.get("/coin", response_class=HTMLResponse)
async def coin_search(q: str = "") -> Response:
    """The header's search box without JavaScript: /coin?q=비트코인 → /coin/비트코인 (resolved there)."""
    q = q.strip()[:100]
    return RedirectResponse("/coin/" + quote(q, safe="") if q else "/", status_code=303)


@router.get("/coin/{market}", response_class=HTMLResponse)
async def coin_page(request: Request, market: str, interval: Literal["1m", "5m", "1h"] = "1m") -> Response:
    try:
        return await _coin_page(request, market, interval)
    except HTTPException as exc:
        return _error_page(request, exc)


async def _coin_page(request: Request, market: str, interval: Literal["1m", "5m", "1h"]) -> Response:
    data: DataSource = request.app.state.data
    text = normalise_market(market[:100])
    ref = await call(data.known_market, text) if MARKET_CODE.match(text) else None
    if ref is None:
        # Not a code we know: let the resolver read it ("비트코인", "btc", "이더리움 코인", typos).
        res = await call(data.resolve, text)
        if res.status == "found" and res.market is not None:
            target = f"/coin/{res.market.market}"
            if request.url.query:
                target += "?" + request.url.query
            return RedirectResponse(target, status_code=303)
        options = res.candidates if res.status == "ambiguous" else res.suggestions
        return _render(
            request,
            "not_found.html",
            {"query": text, "message": res.message, "options": options, "boot": {}},
            status_code=404,
        )

    def load() -> dict[str, Any]:
        boot: dict[str, Any] = {"market": ref.market, "brief": None, "candles": None, "indicators": None}
        try:
            boot["brief"] = data.coin(ref.market).model_dump(mode="json")
            boot["candles"] = data.candles(ref.market, interval, CHART_CANDLES).model_dump(mode="json")
            boot["indicators"] = data.indicators(ref.market, interval, CHART_CANDLES).model_dump(mode="json")
        except LookupError:
            pass  # listed but no ticker yet: the page says "no data" and keeps polling
        return boot

    boot = await call(load)
    name = ref.korean_name or ref.english_name or ref.symbol
    if choose_lang(request, request.app.state.settings.report_language) == "en":
        name = ref.english_name or ref.korean_name or ref.symbol
    return _render(request, "coin.html", {"market": ref.market, "name": name, "interval": interval, "boot": boot})


async def warm(data: DataSource) -> None:
    """Open the first connection at start-up so the role choice is logged before the first request."""
    try:
        await run_in_threadpool(lambda: data.pool.role)
    except Exception as exc:  # noqa: BLE001 - the server still starts; pages report the database error
        log.warning("dashboard started without a database connection error=%s", exc)
