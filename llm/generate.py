"""One generation: Claude (or the offline analyst) → claim-level verification → at most one regeneration, every call
recorded. An answer still unverified after the regeneration is stored with grounded=false and its issues; every
surface that delivers it shows a "numbers not verified" marker (llm.verify.UNVERIFIED_MARK, docs/truth.md)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg2.extensions

from analytics.tokens import count_tokens
from llm import prompts
from llm.pricing import OFFLINE_MODEL, cost_usd
from llm.store import CallRecord, fetch_result, insert_result, link_calls, record_call
from llm.usage import LLMError, Usage
from llm.verify import VerifyReport, verify_fields
from upbit_core.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Generation:
    text: str
    model: str
    offline: bool
    usage: Usage
    cost_usd: Decimal
    latency_ms: int
    context_tokens: int
    grounded: bool
    issues: list[dict[str, Any]]
    attempts: int
    call_ids: list[int] = field(default_factory=list)
    regenerated: bool = False


def generate(
    settings: Settings,
    conn: psycopg2.extensions.connection,
    *,
    task: prompts.Task,
    window_key: str,
    context_text: str,
    offline_text: Callable[[], str],
    question: str | None = None,
    extra_allowed: Iterable[str] = (),
    grounding_fields: Callable[[str], dict[str, str | list[str]]] | None = None,
    client: Any = None,
) -> Generation:
    """Produce the text for one task. Raises LLMError when Claude fails (the failed call is recorded).

    The context's token count is recorded with every call and carried in the Generation.

    `grounding_fields` splits a structured reply into its string fields (e.g. an interpretation's "text" and every
    "watch_next" item); each is verified against the context. Numbers in `question` that no fact supports are
    flagged as echoed (`extra_allowed` is accepted for compatibility and no longer widens what passes).
    """
    language = settings.report_language
    context_tokens = count_tokens(context_text)
    del extra_allowed
    split = grounding_fields or (lambda t: {"text": t})

    def check(text: str) -> VerifyReport:
        return verify_fields(split(text), context_text, question=question)

    if not settings.has_anthropic_key:
        started = time.monotonic()
        text = offline_text()
        latency = int((time.monotonic() - started) * 1000)
        report = check(text)
        if not report.ok:  # the offline analyst copies context figures; a miss here is a bug worth a log line
            log.warning("offline text not grounded task=%s issues=%s", task, report.describe())
        call_id = record_call(
            conn,
            CallRecord(
                task_kind=task,
                model=OFFLINE_MODEL,
                offline=True,
                status="ok",
                usage=Usage(),
                cost_usd=Decimal(0),
                latency_ms=latency,
                attempt=1,
                window_key=window_key,
                language=language,
                context_tokens=context_tokens,
            ),
        )
        return Generation(
            text=text,
            model=OFFLINE_MODEL,
            offline=True,
            usage=Usage(),
            cost_usd=Decimal(0),
            latency_ms=latency,
            context_tokens=context_tokens,
            grounded=report.ok,
            issues=report.as_list(),
            attempts=1,
            call_ids=[call_id],
        )

    from llm import claude  # the SDK is imported only when Claude is actually called

    client = client or claude.build_client(settings)
    system = prompts.system_blocks(task, language)
    total_usage = Usage()
    total_cost = Decimal(0)
    total_latency = 0
    call_ids: list[int] = []
    correction: str | None = None
    reply = None
    report = VerifyReport()
    for attempt in (1, 2):
        user_text = prompts.user_message(context_text, question=question, correction=correction)
        try:
            reply = claude.call(
                client,
                model=settings.anthropic_model,
                system=system,
                user_text=user_text,
                max_tokens=settings.llm_max_output_tokens,
            )
        except LLMError as exc:
            record_call(
                conn,
                CallRecord(
                    task_kind=task,
                    model=settings.anthropic_model,
                    offline=False,
                    status="error",
                    usage=Usage(),
                    cost_usd=Decimal(0),
                    latency_ms=None,
                    attempt=attempt,
                    window_key=window_key,
                    language=language,
                    context_tokens=context_tokens,
                    error=str(exc),
                ),
            )
            raise
        cost = cost_usd(reply.model, reply.usage)
        total_usage += reply.usage
        total_cost += cost
        total_latency += reply.latency_ms
        report = check(reply.text)
        call_ids.append(
            record_call(
                conn,
                CallRecord(
                    task_kind=task,
                    model=reply.model,
                    offline=False,
                    status="ok" if attempt == 1 else "regenerated",
                    usage=reply.usage,
                    cost_usd=cost,
                    latency_ms=reply.latency_ms,
                    attempt=attempt,
                    window_key=window_key,
                    language=language,
                    context_tokens=context_tokens,
                    request_id=reply.request_id,
                    error=None if report.ok else "ungrounded: " + report.describe(),
                ),
            )
        )
        if report.ok:
            break
        log.warning("answer not grounded task=%s attempt=%s issues=%s", task, attempt, report.describe())
        correction = report.describe()
    assert reply is not None
    return Generation(
        text=reply.text,
        model=reply.model,
        offline=False,
        usage=total_usage,
        cost_usd=total_cost,
        latency_ms=total_latency,
        context_tokens=context_tokens,
        grounded=report.ok,
        issues=report.as_list(),
        attempts=len(call_ids),
        call_ids=call_ids,
        regenerated=len(call_ids) > 1,
    )


def store_generation(
    conn: psycopg2.extensions.connection, gen: Generation, values: dict[str, Any]
) -> tuple[int, bool, dict[str, Any]]:
    """Store the llm_results row of a generation and link its llm_calls rows to it.

    `values` holds the task's own columns; the model, grounding, token counts, cost and latency come from `gen`.
    Returns (result id, whether this call inserted it, the stored row).
    """
    result_id, inserted = insert_result(
        conn,
        {
            **values,
            "model": gen.model,
            "offline": gen.offline,
            "grounded": gen.grounded,
            "grounding_issues": gen.issues,
            "input_tokens": gen.usage.input_tokens,
            "output_tokens": gen.usage.output_tokens,
            "cost_usd": gen.cost_usd,
            "latency_ms": gen.latency_ms,
            "context_tokens": gen.context_tokens,
        },
    )
    link_calls(conn, gen.call_ids, result_id)
    row = fetch_result(conn, values["kind"], values["window_key"])
    assert row is not None
    return result_id, inserted, row
