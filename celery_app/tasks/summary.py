"""Celery task `celery_app.tasks.summary.market_summary`: the market summary of the current window (queue llm)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import Task

from celery_app.application import app, current_settings
from celery_app.tasks.common import MAX_RETRIES, backoff, is_transient, with_language
from llm.summary import NoMarketData, produce_summary

log = logging.getLogger(__name__)


@app.task(name="celery_app.tasks.summary.market_summary", bind=True, max_retries=MAX_RETRIES)
def market_summary(self: Task, at: str | None = None, language: str | None = None) -> dict[str, Any]:
    """Produce (or find) the summary of the window containing `at` (ISO time; default now).

    Idempotent: llm_results is UNIQUE(kind, window_key) and an advisory lock per window keeps two workers from both
    calling Claude, so a redelivered or duplicated message stores one summary. Retries only transient errors.
    """

    settings = with_language(current_settings(), language)
    now = datetime.fromisoformat(at) if at else None
    try:
        outcome = produce_summary(settings, now=now)
    except NoMarketData as exc:
        log.warning("summary skipped reason=no_data")
        return {"status": "no_data", "message": str(exc)}
    except Exception as exc:
        if is_transient(exc) and self.request.retries < self.max_retries:
            countdown = backoff(self.request.retries)
            log.warning("summary retry in=%ss error=%s", countdown, exc)
            raise self.retry(exc=exc, countdown=countdown) from exc
        raise
    return outcome.as_dict()
