"""What the LLM tasks share: transient-error retries with exponential backoff and settings for one language."""

from __future__ import annotations

import logging
import random

import psycopg2

from db.connection import DatabaseUnavailable
from llm.usage import LLMError
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

MAX_RETRIES = 4
BACKOFF_BASE_SECONDS = 15
BACKOFF_MAX_SECONDS = 300


def is_transient(exc: BaseException) -> bool:
    """Rate limits/overload after the SDK's own retries, timeouts, and a database that is briefly away."""
    if isinstance(exc, LLMError):
        return exc.transient
    return isinstance(exc, DatabaseUnavailable | psycopg2.OperationalError)


def backoff(retries: int) -> int:
    """Exponential backoff with full jitter (seconds before retry number `retries + 1`)."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**retries)
    return max(1, int(random.uniform(ceiling / 2, ceiling)))


def with_language(settings: Settings, language: str | None) -> Settings:
    if language in ("ko", "en") and language != settings.report_language:
        return settings.model_copy(update={"report_language": language})
    return settings
