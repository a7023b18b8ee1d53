"""Anomaly interpretation: likely cause, confidence and what to watch next, grounded in the event's numbers."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, Final

import psycopg2.extras

from analytics.coin import coin_brief
from analytics.context import fmt_time
from analytics.models import CoinBrief
from analytics.overview import market_overview
from analytics.tokens import count_tokens
from db.connection import connect
from llm import offline
from llm.generate import generate, store_generation
from llm.store import fetch_result, window_lock
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

KIND: Final = "anomaly_interpretation"
CATEGORIES = ("news_or_listing", "whale_trade", "market_wide_move", "low_liquidity", "data_issue", "unknown")
CONFIDENCE = ("low", "medium", "high")
EVENT_BUDGET = 250


def _event_context(row: dict[str, Any]) -> str:
    """The event line and its metrics as key=value with units written (+4.2%, 6.5x, 123M), flags by name."""
    metrics = row.get("metrics") or {}
    parts = []
    for key, value in list(metrics.items())[:16]:
        text = offline.metric_text(key, value)
        if text is not None:
            parts.append(f"{key}={text}")
    return (
        f"EVENT #{row['id']} {row['market']} {row['kind']} severity {row['severity']} status {row['status']}; "
        f"started {fmt_time(row['started_at'])}, detected {fmt_time(row['detected_at'])}\n"
        f"metrics: {', '.join(parts) if parts else 'none'}"
    )


def parse_reading(text: str) -> dict[str, Any]:
    """Claude's JSON reading, normalised; a reply that is not JSON becomes an 'unknown' reading with its text."""
    match = re.search(r"\{.*\}", text, re.S)
    data: dict[str, Any] = {}
    if match:
        try:
            loaded = json.loads(match.group(0))
            if isinstance(loaded, dict):
                data = loaded
        except json.JSONDecodeError:
            data = {}
    category = str(data.get("cause_category", "unknown"))
    confidence = str(data.get("confidence", "low"))
    watch = data.get("watch_next") or []
    if isinstance(watch, str):
        watch = [watch]
    return {
        "cause_category": category if category in CATEGORIES else "unknown",
        "confidence": confidence if confidence in CONFIDENCE else "low",
        "watch_next": [str(w)[:200] for w in watch][:5],
        "text": str(data.get("text") or text).strip()[:1500],
    }


def _load(conn: psycopg2.extensions.connection, anomaly_id: int) -> dict[str, Any] | None:
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute("SELECT * FROM anomalies WHERE id = %s", (anomaly_id,))
        row = cur.fetchone()
    conn.commit()
    return dict(row) if row else None


def interpret_anomaly(settings: Settings, anomaly_id: int, *, client: Any = None) -> dict[str, Any]:
    """Interpret one anomaly event; stored in anomalies.interpretation and llm_results. Idempotent per event state.

    Raises LookupError for an unknown id and llm.usage.LLMError when Claude fails.
    """
    conn = connect(settings, application_name="upbit-llm-interpret")
    try:
        row = _load(conn, anomaly_id)
        if row is None:
            raise LookupError(f"anomaly {anomaly_id} does not exist")
        # A new status or severity (escalation) deserves a new reading; a redelivered task reuses the stored one.
        key = f"{anomaly_id}:{row['status']}:{row['severity']}"
        with window_lock(conn, KIND, key):
            stored = fetch_result(conn, KIND, key)
            if stored is None:
                stored = _produce(settings, conn, row, key, client)
            reading = dict(stored.get("payload") or {})
            reading.update(
                {
                    "model": stored["model"],
                    "offline": bool(stored["offline"]),
                    "grounded": bool(stored["grounded"]),
                    "result_id": int(stored["id"]),
                    "as_of": fmt_time(stored["as_of"]),
                }
            )
            with conn.cursor() as cur:
                cur.execute(
                    "UPDATE anomalies SET interpretation = %s, interpreted_at = %s WHERE id = %s",
                    (psycopg2.extras.Json(reading), datetime.now(UTC), anomaly_id),
                )
            conn.commit()
        log.info(
            "anomaly interpreted id=%s category=%s model=%s", anomaly_id, reading["cause_category"], reading["model"]
        )
        return reading
    finally:
        conn.close()


def _produce(
    settings: Settings, conn: psycopg2.extensions.connection, row: dict[str, Any], key: str, client: Any
) -> dict[str, Any]:
    brief: CoinBrief | None = None
    event_text = _event_context(row)
    extra = ""
    if row["market"] != "MARKET":
        try:
            brief = coin_brief(conn, row["market"])
            extra = brief.to_context(budget=max(100, settings.llm_max_context_tokens - count_tokens(event_text) - 10))
        except LookupError:
            brief = None
    else:
        extra = market_overview(conn).to_context(budget=max(100, settings.llm_max_context_tokens - EVENT_BUDGET))
    conn.commit()
    context_text = event_text + ("\n" + extra if extra else "")
    lang = settings.report_language
    gen = generate(
        settings,
        conn,
        task=KIND,
        window_key=key,
        context_text=context_text,
        offline_text=lambda: json.dumps(offline.interpretation(row, brief, lang), ensure_ascii=False),
        grounding_fields=lambda t: {k: v for k, v in parse_reading(t).items() if k in ("text", "watch_next")},
        client=client,
    )
    reading = parse_reading(gen.text)
    as_of = (brief.freshness.as_of if brief else None) or row["detected_at"]
    _, _, stored = store_generation(
        conn,
        gen,
        {
            "kind": KIND,
            "window_key": key,
            "window_start": row["started_at"],
            "window_end": row["detected_at"],
            "as_of": as_of,
            "language": lang,
            "markets": [row["market"]],
            "context": {"text": context_text, "anomaly_id": row["id"]},
            "text": reading["text"],
            "payload": reading,
        },
    )
    return stored
