"""The Claude client: one anthropic SDK client built from Settings, one call shape, usage and error classes.

Retries are the SDK's own (`max_retries`): it retries 408/409/429/5xx/529 and connection errors with backoff and
honours `retry-after` / `retry-after-ms`; 400/401/403/404/413/422 are never retried. Celery only retries what the
SDK gave up on *and* is transient (see `is_transient`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import anthropic

from llm.usage import LLMError, Usage
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

# Errors that will not heal by retrying (PostHog's "non-retryable provider errors" idea).
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    anthropic.BadRequestError,
    anthropic.AuthenticationError,
    anthropic.PermissionDeniedError,
    anthropic.NotFoundError,
    anthropic.UnprocessableEntityError,
)


@dataclass(frozen=True)
class Reply:
    """One answer from Claude (after the SDK's retries)."""

    text: str
    model: str
    usage: Usage
    latency_ms: int
    stop_reason: str | None = None
    request_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def build_client(settings: Settings) -> anthropic.Anthropic:
    """The SDK client: key, explicit timeout and retries; base_url only when configured.

    Leaving base_url unset lets the SDK apply its own default (and `ANTHROPIC_BASE_URL` from the environment).
    """
    if not settings.has_anthropic_key:
        raise LLMError("ANTHROPIC_API_KEY is not set — the offline analyst should have been used", transient=False)
    kwargs: dict[str, Any] = {
        "api_key": settings.anthropic_api_key.get_secret_value(),
        # connect fails fast; the read budget covers a full (non-streamed) answer.
        "timeout": anthropic.Timeout(
            settings.anthropic_timeout_seconds, connect=min(10.0, settings.anthropic_timeout_seconds)
        ),
        "max_retries": settings.anthropic_max_retries,
    }
    if settings.anthropic_base_url:
        kwargs["base_url"] = settings.anthropic_base_url
    return anthropic.Anthropic(**kwargs)


def is_transient(exc: BaseException) -> bool:
    """True for failures a later retry can fix: rate limits, overload, 5xx, timeouts, connection errors."""
    if isinstance(exc, LLMError):
        return exc.transient
    if isinstance(exc, PERMANENT_ERRORS):
        return False
    if isinstance(exc, anthropic.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return isinstance(exc, anthropic.APIConnectionError)


def call(
    client: anthropic.Anthropic,
    *,
    model: str,
    system: list[dict[str, Any]],
    user_text: str,
    max_tokens: int,
) -> Reply:
    """Send one Messages API request; raise LLMError (transient or not) when the SDK gives up."""
    started = time.monotonic()
    try:
        message = client.messages.create(
            model=model,
            max_tokens=max_tokens,
            system=system,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": user_text}],
        )
    except anthropic.APIStatusError as exc:
        transient = is_transient(exc)
        log.warning("claude call failed status=%s transient=%s model=%s", exc.status_code, transient, model)
        raise LLMError(_describe(exc), transient=transient, status=exc.status_code) from exc
    except anthropic.APIConnectionError as exc:
        log.warning("claude call failed connection error=%s model=%s", type(exc).__name__, model)
        raise LLMError(f"cannot reach the Claude API ({type(exc).__name__}): {exc}", transient=True) from exc
    latency_ms = int((time.monotonic() - started) * 1000)
    text = "".join(getattr(block, "text", "") for block in message.content if getattr(block, "type", "") == "text")
    u = message.usage
    usage = Usage(
        input_tokens=u.input_tokens or 0,
        output_tokens=u.output_tokens or 0,
        cache_creation_tokens=u.cache_creation_input_tokens or 0,
        cache_read_tokens=u.cache_read_input_tokens or 0,
    )
    request_id = getattr(message, "_request_id", None)
    log.info(
        "claude call ok model=%s input=%s output=%s cache_write=%s cache_read=%s latency_ms=%s",
        message.model,
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_creation_tokens,
        usage.cache_read_tokens,
        latency_ms,
    )
    return Reply(
        text=text.strip(),
        model=message.model or model,
        usage=usage,
        latency_ms=latency_ms,
        stop_reason=message.stop_reason,
        request_id=request_id,
    )


def _describe(exc: anthropic.APIStatusError) -> str:
    status = exc.status_code
    if status == 401:
        fix = "check ANTHROPIC_API_KEY"
    elif status == 403:
        fix = "the key lacks permission for this model; check ANTHROPIC_MODEL"
    elif status == 400:
        fix = "the request was rejected; check ANTHROPIC_MODEL and LLM_MAX_OUTPUT_TOKENS"
    elif status == 429:
        fix = "rate limited after the SDK's retries; the task retries later"
    elif status == 529:
        fix = "Claude is overloaded after the SDK's retries; the task retries later"
    else:
        fix = "the task retries later" if status >= 500 else "see the message"
    message = getattr(exc, "message", str(exc))
    return f"Claude API error {status}: {message} — {fix}"
