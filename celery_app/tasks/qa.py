"""Celery task `celery_app.tasks.qa.ask_coin`: answer a coin question (queue llm) for MCP and the dashboard."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from celery_app.application import app, current_settings
from celery_app.tasks.common import MAX_RETRIES, backoff, is_transient, with_language
from llm.ask import ask as ask_anything
from llm.qa import answer_question

log = logging.getLogger(__name__)


@app.task(name="celery_app.tasks.qa.ask_coin", bind=True, max_retries=MAX_RETRIES)
def ask_coin(self: Task, question: str, language: str | None = None) -> dict[str, Any]:
    """Answer `question`; ambiguous or unknown coins come back as status ambiguous / not_found with candidates.

    Idempotent: the same question about the same data is answered from the stored row (no second Claude call).
    """

    settings = with_language(current_settings(), language)
    try:
        return answer_question(settings, str(question)).as_dict()
    except Exception as exc:
        if is_transient(exc) and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
        raise


@app.task(name="celery_app.tasks.qa.ask", bind=True, max_retries=MAX_RETRIES)
def ask(self: Task, question: str, language: str | None = None, market: str | None = None) -> dict[str, Any]:
    """Answer any market question (llm.ask): Claude tool use with a key, the offline router without one.

    `market` scopes a question asked on a coin's page that names no coin ("지금 어때?"). Idempotent per minute of
    data: the same question is answered from the stored row.
    """
    settings = with_language(current_settings(), language)
    try:
        return ask_anything(settings, str(question), market=market).as_dict()
    except Exception as exc:
        if is_transient(exc) and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
        raise
