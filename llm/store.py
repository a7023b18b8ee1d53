"""Persistence of LLM work: one llm_calls row per call, one llm_results row per (kind, window_key)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import psycopg2.extensions
import psycopg2.extras

from llm.usage import Usage

log = logging.getLogger(__name__)


# The llm_results columns a producer writes (id and created_at come from the table's defaults).
RESULT_COLUMNS: Final = (
    "kind",
    "window_key",
    "window_start",
    "window_end",
    "as_of",
    "language",
    "model",
    "offline",
    "question",
    "markets",
    "context",
    "context_tokens",
    "text",
    "payload",
    "grounded",
    "grounding_issues",
    "changes",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms",
)


@dataclass(frozen=True)
class CallRecord:
    task_kind: str
    model: str
    offline: bool
    status: str  # ok / regenerated / error
    usage: Usage
    cost_usd: Decimal
    latency_ms: int | None
    attempt: int
    window_key: str
    language: str
    context_tokens: int | None = None
    error: str | None = None
    request_id: str | None = None


def record_call(conn: psycopg2.extensions.connection, rec: CallRecord) -> int:
    """Insert and commit one llm_calls row at once, so failed calls are counted even if the task then fails."""
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO llm_calls (task_kind, model, offline, status, input_tokens, output_tokens,
                   cache_creation_tokens, cache_read_tokens, cost_usd, latency_ms, attempt, error,
                   window_key, language, request_id, context_tokens)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (
                rec.task_kind,
                rec.model,
                rec.offline,
                rec.status,
                rec.usage.input_tokens,
                rec.usage.output_tokens,
                rec.usage.cache_creation_tokens,
                rec.usage.cache_read_tokens,
                rec.cost_usd,
                rec.latency_ms,
                rec.attempt,
                (rec.error or None) and rec.error[:2000],
                rec.window_key,
                rec.language,
                rec.request_id,
                rec.context_tokens,
            ),
        )
        row = cur.fetchone()
    conn.commit()
    return int(row[0]) if row else 0


def link_calls(conn: psycopg2.extensions.connection, call_ids: list[int], result_id: int) -> None:
    if not call_ids:
        return
    with conn.cursor() as cur:
        cur.execute("UPDATE llm_calls SET result_id = %s WHERE id = ANY(%s)", (result_id, call_ids))
    conn.commit()


def fetch_result(conn: psycopg2.extensions.connection, kind: str, window_key: str) -> dict[str, Any] | None:
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute("SELECT * FROM llm_results WHERE kind = %s AND window_key = %s", (kind, window_key))
        row = cur.fetchone()
    conn.commit()
    return dict(row) if row else None


def latest_result(
    conn: psycopg2.extensions.connection, kind: str, *, before: str | None = None
) -> dict[str, Any] | None:
    """The newest stored result of a kind (optionally excluding one window key)."""
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(
            """SELECT * FROM llm_results WHERE kind = %s AND (%s::text IS NULL OR window_key <> %s)
               ORDER BY window_end DESC NULLS LAST, created_at DESC LIMIT 1""",
            (kind, before, before),
        )
        row = cur.fetchone()
    conn.commit()
    return dict(row) if row else None


def insert_result(conn: psycopg2.extensions.connection, values: dict[str, Any]) -> tuple[int, bool]:
    """Insert an llm_results row unless (kind, window_key) exists. Returns (id, inserted)."""
    cols = RESULT_COLUMNS
    json_cols = {"context", "payload", "grounding_issues", "changes"}
    params = [psycopg2.extras.Json(values.get(c), dumps=_dumps) if c in json_cols else values.get(c) for c in cols]
    placeholders = ", ".join(["%s"] * len(cols))
    with conn.cursor() as cur:
        cur.execute(
            f"INSERT INTO llm_results ({', '.join(cols)}) VALUES ({placeholders}) "  # noqa: S608 - fixed column list
            "ON CONFLICT (kind, window_key) DO NOTHING RETURNING id",
            params,
        )
        row = cur.fetchone()
        if row:
            conn.commit()
            return int(row[0]), True
        cur.execute(
            "SELECT id FROM llm_results WHERE kind = %s AND window_key = %s", (values["kind"], values["window_key"])
        )
        existing = cur.fetchone()
    conn.commit()
    return (int(existing[0]) if existing else 0), False


@contextmanager
def window_lock(conn: psycopg2.extensions.connection, kind: str, window_key: str) -> Iterator[None]:
    """A session advisory lock per (kind, window): two workers never both pay Claude for one window."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"{kind}|{window_key}",))
    conn.commit()
    try:
        yield
    finally:
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (f"{kind}|{window_key}",))
            conn.commit()
        except psycopg2.Error:
            log.warning("advisory unlock failed kind=%s window=%s (released with the session)", kind, window_key)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)
