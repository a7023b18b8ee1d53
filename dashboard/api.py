"""The dashboard's JSON API (documented by OpenAPI at /openapi.json): analytics results, coin Q&A, live stream.

Every number comes from the analytics layer through `dashboard.data.DataSource`; this module only validates
input, maps errors to HTTP answers (never with SQL text or stack traces) and serialises the analytics models.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal, TypeVar

import psycopg2
from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout
from fastapi import APIRouter, Body, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field

from analytics.models import (
    AnomalyList,
    CandleSeries,
    CoinBrief,
    IndicatorSeries,
    MarketOverview,
    Resolution,
    SummaryResult,
)
from dashboard.data import DataSource, MarketTable
from dashboard.live import LiveHub
from db.connection import DatabaseUnavailable
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["dashboard"])

MarketPath = Annotated[str, Path(min_length=1, max_length=40, description="market code such as KRW-BTC")]
MARKET_CODE = re.compile(r"^[A-Z]{2,5}-[A-Z0-9]{1,20}$")
T = TypeVar("T")


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=500, description="question about the coin, Korean or English")
    lang: Literal["ko", "en"] | None = Field(default=None, description="answer language; default REPORT_LANGUAGE")


class AskResponse(BaseModel):
    """The answer of the Celery `ask` task (llm.ask.ask), with its verification state, as-of time and token cost."""

    status: Literal["answered", "ambiguous", "not_found", "no_data", "invalid", "stopped"]
    question: str
    text: str
    markets: list[str] = Field(default_factory=list)
    candidates: list[dict[str, Any]] = Field(default_factory=list)
    as_of: str | None = None
    model: str | None = None
    offline: bool = False
    grounded: bool = True
    grounding_issues: list[dict[str, Any]] = Field(default_factory=list)
    intent: str | None = None
    window: str | None = None
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    context_tokens: int | None = None
    cost_usd: float = 0.0
    latency_ms: int | None = None
    cached: bool = False


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    db_role: str
    readonly_role: bool
    live_subscribers: int


def _data(request: Request) -> DataSource:
    return request.app.state.data


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def normalise_market(text: str) -> str:
    """Market codes are upper case; anything else is left for the analytics resolver to interpret."""
    text = text.strip()
    return text.upper() if MARKET_CODE.match(text.upper()) else text


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking analytics read in the thread pool and turn failures into clean HTTP errors."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except LookupError as exc:
        raise HTTPException(status_code=404, detail=str(exc).splitlines()[0][:300]) from exc
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc).splitlines()[0][:300]) from exc
    except DatabaseUnavailable as exc:
        log.warning("dashboard database unavailable error=%s", exc)
        raise HTTPException(status_code=503, detail="database unavailable; run `upbit-llm services up`") from exc
    except psycopg2.errors.QueryCanceled as exc:
        log.warning("dashboard query timed out fn=%s", getattr(fn, "__name__", fn))
        raise HTTPException(status_code=503, detail="the database took too long; try again") from exc
    except psycopg2.Error as exc:
        log.error("dashboard query failed fn=%s error=%s", getattr(fn, "__name__", fn), type(exc).__name__)
        raise HTTPException(status_code=503, detail="database error; see the server log") from exc


@router.get("/overview", response_model=MarketOverview, summary="Market overview (breadth, value, leaders)")
async def overview(request: Request, top: Annotated[int, Query(ge=1, le=50)] = 5) -> MarketOverview:
    return await call(_data(request).overview, top=top)


@router.get("/markets", response_model=MarketTable, summary="Every listed KRW market: price, signed %, value")
async def markets(request: Request) -> MarketTable:
    return await call(_data(request).markets)


@router.get("/coins/{market}", response_model=CoinBrief, summary="Coin brief (404 when the text names no market)")
async def coin(request: Request, market: MarketPath) -> CoinBrief:
    return await call(_data(request).coin, normalise_market(market))


@router.get("/candles/{market}", response_model=CandleSeries, summary="Candles, oldest first")
async def candles(
    request: Request,
    market: MarketPath,
    interval: Literal["1m", "5m", "1h"] = "1m",
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> CandleSeries:
    return await call(_data(request).candles, normalise_market(market), interval, limit)


@router.get(
    "/indicators/{market}",
    response_model=IndicatorSeries,
    summary="Chart overlays per candle: SMA/EMA 20/50/200, Bollinger(20, 2 sd), RSI14 (warm-up values are null)",
)
async def indicators(
    request: Request,
    market: MarketPath,
    interval: Literal["1m", "5m", "1h"] = "1m",
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> IndicatorSeries:
    return await call(_data(request).indicators, normalise_market(market), interval, limit)


@router.get("/anomalies", response_model=AnomalyList, summary="Anomaly events, newest first")
async def anomalies(
    request: Request,
    market: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
) -> AnomalyList:
    return await call(_data(request).anomalies, market=normalise_market(market) if market else None, limit=limit)


@router.get("/summary", response_model=SummaryResult, summary="Latest stored market summary")
async def summary(request: Request) -> SummaryResult:
    return await call(_data(request).summary)


@router.get("/resolve", response_model=Resolution, summary="Resolve a coin name, symbol or code")
async def resolve(request: Request, q: Annotated[str, Query(min_length=1, max_length=100)]) -> Resolution:
    return await call(_data(request).resolve, q)


# The Q&A may call Claude (cost, seconds of latency): a couple at a time per process is plenty for a dashboard.
_ask_slots = threading.BoundedSemaphore(2)


class AskTimeout(RuntimeError):
    """No worker answered the `ask` task in time."""


def _ask(settings: Settings, data: DataSource, market: str, question: str, lang: str | None) -> AskResponse:
    """Hand the question to the Celery `ask` task (queue llm) and wait for its answer: the web process never calls
    Claude itself, so a slow or failing model never holds the dashboard's threads beyond the wait."""
    ref = data.known_market(market)
    if ref is None:
        resolution = data.resolve(market)
        if resolution.status != "found" or resolution.market is None:
            raise LookupError(f"{market}: {resolution.message or 'unknown market'}")
        ref = resolution.market
    app = _celery(settings)
    # Asked on a coin's page without naming a coin ("지금 어때?"): the task scopes it to this coin.
    result = app.send_task(
        ASK_TASK, kwargs={"question": question, "language": lang, "market": ref.market}, queue=LLM_QUEUE
    )
    try:
        answer = result.get(timeout=settings.web_ask_timeout_seconds, propagate=True)
    except CeleryTimeout:
        result.revoke()
        raise AskTimeout("no answer from the llm queue in time; is a Celery worker running (-Q llm)?") from None
    return AskResponse.model_validate(answer, from_attributes=False)


# The task and queue by name (the contract in docs/celery-llm.md): the dashboard sits beside celery_app, not above it,
# so it sends by name through a bare client instead of importing the worker's app.
ASK_TASK = "celery_app.tasks.qa.ask"
LLM_QUEUE = "llm"
_celery_apps: dict[str, Celery] = {}


def _celery(settings: Settings) -> Celery:
    """One Celery client per broker URL for the process (connections are pooled inside)."""

    key = settings.redis_url
    if key not in _celery_apps:
        client = Celery("upbit-dashboard", broker=settings.redis_url, backend=settings.celery_backend_url)
        client.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])
        _celery_apps[key] = client
    return _celery_apps[key]


@router.post("/coins/{market}/ask", response_model=AskResponse, summary="Ask about the coin (coin Q&A)")
async def ask(request: Request, market: MarketPath, body: Annotated[AskRequest, Body()]) -> AskResponse:
    # Per client (address; uvicorn runs without proxy headers, so it cannot be forged by a header): each question
    # may cost a Claude call, so one client cannot spend the budget of everyone.
    client = request.client.host if request.client else "?"
    wait = request.app.state.ask_limiter.take(client)
    if wait > 0:
        raise HTTPException(
            status_code=429,
            detail=f"too many questions from this client; try again in {wait:.0f} s",
            headers={"Retry-After": str(max(1, round(wait)))},
        )
    if not _ask_slots.acquire(blocking=False):
        raise HTTPException(status_code=429, detail="two questions are already being answered; try again shortly")
    try:
        return await call(_ask, _settings(request), _data(request), normalise_market(market), body.question, body.lang)
    except HTTPException:
        raise
    except AskTimeout as exc:
        raise HTTPException(status_code=504, detail=str(exc)) from exc
    except Exception as exc:
        log.error("dashboard question failed market=%s error=%s", market, type(exc).__name__)
        raise HTTPException(status_code=502, detail=f"the analyst failed ({type(exc).__name__}); try again") from exc
    finally:
        _ask_slots.release()


@router.get("/stream", response_class=EventSourceResponse, summary="Live updates (server-sent events)")
async def stream(request: Request) -> AsyncIterator[ServerSentEvent]:
    """Events `overview`, `markets`, `anomalies`, `summary` (JSON of the endpoints above) and `status`."""
    hub: LiveHub = request.app.state.hub
    sub = hub.subscribe()
    try:
        yield ServerSentEvent(comment="connected", retry=3000)
        while True:
            batch = await sub.next()
            if batch is None:
                return
            for event, data in batch:
                yield ServerSentEvent(event=event, raw_data=data)
    finally:
        hub.unsubscribe(sub)


@router.get("/health", response_model=Health, summary="Database role and live-feed state")
async def health(request: Request) -> Health:
    data = _data(request)
    hub: LiveHub = request.app.state.hub
    try:
        role = await run_in_threadpool(lambda: data.pool.role)
    except (DatabaseUnavailable, psycopg2.Error):
        return Health(
            status="degraded",
            database="unavailable",
            db_role="-",
            readonly_role=False,
            live_subscribers=hub.subscribers,
        )
    return Health(
        status="ok",
        database="ok",
        db_role=role.role,
        readonly_role=role.readonly_role,
        live_subscribers=hub.subscribers,
    )
