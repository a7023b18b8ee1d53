"""Anomaly events, read from the anomalies table the detector writes: the one module that reads them.

`anomaly_by_id` (one event with its market's names: alerts), `anomaly_rows` (full rows, newest first or in a stable
replay order: the CLI listing and the evaluation harness) and `query_anomalies` / `recent_anomalies` (filtered,
compacted items: MCP and the dashboard). Writing them stays with the detector (`anomaly.lifecycle`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import psycopg2.extensions
import psycopg2.extras

from analytics.freshness import freshness
from analytics.models import AnomalyItem, AnomalyList
from upbit_core.severity import SEVERITIES

MAX_ROWS = 100
SEVERITY_ORDER = SEVERITIES  # the foundation's one scale
Status = Literal["open", "resolved", "all"]
RowOrder = Literal["newest", "replay"]

# Every column of an event row, in the order the listings show them.
ROW_COLUMNS = (
    "id",
    "market",
    "kind",
    "severity",
    "status",
    "started_at",
    "detected_at",
    "resolved_at",
    "resolution",
    "metrics",
    "interpretation",
    "dedup_key",
)
_ORDER_BY: dict[RowOrder, str] = {
    "newest": "detected_at DESC, id DESC",
    # Independent of ids and insertion order: two replays of the same data list identically.
    "replay": "detected_at, market, dedup_key",
}


def _interpretation_text(value: Any) -> str | None:
    if isinstance(value, dict):
        # An interpretation whose figures failed verification is shown only behind the marker (docs/truth.md).
        mark = "⚠️ 수치 미검증 · numbers not verified — " if value.get("grounded") is False else ""
        for key in ("text", "summary", "explanation"):
            text = value.get(key)
            if isinstance(text, str) and text:
                return mark + text[:300]
    return None


def _compact_metrics(metrics: Any) -> dict[str, Any]:
    if not isinstance(metrics, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in list(metrics.items())[:10]:
        if isinstance(value, bool | int | float) or value is None:
            out[str(key)[:40]] = value
        elif isinstance(value, str):
            out[str(key)[:40]] = value[:60]
    return out


def row_to_item(row: tuple[Any, ...]) -> AnomalyItem:
    return AnomalyItem(
        id=row[0],
        market=row[1],
        kind=row[2],
        severity=row[3],
        status=row[4],
        started_at=row[5],
        detected_at=row[6],
        resolved_at=row[7],
        resolution=row[8],
        metrics=_compact_metrics(row[9]),
        interpretation=_interpretation_text(row[10]),
    )


_COLUMNS = (
    "id, market, kind, severity, status, started_at, detected_at, resolved_at, resolution, metrics, interpretation"
)


def query_anomalies(
    conn: psycopg2.extensions.connection,
    *,
    market: str | None = None,
    since: datetime | None = None,
    status: Status = "all",
    min_severity: str = "info",
    limit: int = 20,
) -> tuple[list[AnomalyItem], int]:
    """Matching anomalies, newest first, and how many matched before `limit`."""
    limit = max(1, min(limit, MAX_ROWS))
    severities = list(SEVERITY_ORDER[SEVERITY_ORDER.index(min_severity) :]) if min_severity in SEVERITY_ORDER else []
    statuses = {"open": ["open", "escalated"], "resolved": ["resolved"], "all": None}[status]
    with conn.cursor() as cur:
        cur.execute(
            f"""
            SELECT {_COLUMNS}, count(*) OVER ()
            FROM anomalies
            WHERE (%(market)s::text IS NULL OR market = %(market)s)
              AND (%(since)s::timestamptz IS NULL OR started_at >= %(since)s)
              AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s))
              AND severity = ANY(%(severities)s)
            ORDER BY started_at DESC, id DESC
            LIMIT %(limit)s
            """,  # noqa: S608 - column list is a constant
            {"market": market, "since": since, "statuses": statuses, "severities": severities, "limit": limit},
        )
        rows = cur.fetchall()
    total = int(rows[0][-1]) if rows else 0
    return [row_to_item(r[:-1]) for r in rows], total


def recent_anomalies(
    conn: psycopg2.extensions.connection,
    *,
    market: str | None = None,
    since: datetime | None = None,
    status: Status = "all",
    min_severity: str = "info",
    limit: int = 20,
) -> AnomalyList:
    """Anomaly events (newest first) with lifecycle status, capped at `limit` rows (`truncated` says so)."""
    items, total = query_anomalies(
        conn, market=market, since=since, status=status, min_severity=min_severity, limit=limit
    )
    quote = market.split("-", 1)[0] if market and "-" in market else None
    return AnomalyList(
        items=items,
        total=total,
        truncated=total > len(items),
        freshness=freshness(conn, market=market if quote else None, quote=quote),
    )


def anomaly_by_id(conn: psycopg2.extensions.connection, anomaly_id: int) -> dict[str, Any] | None:
    """One event's row (every column) plus its market's `korean_name` / `english_name` ('' when unknown)."""
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(
            "SELECT a.*, coalesce(m.korean_name, '') AS korean_name, coalesce(m.english_name, '') AS english_name"
            " FROM anomalies a LEFT JOIN markets m ON m.code = a.market WHERE a.id = %s",
            (anomaly_id,),
        )
        row = cur.fetchone()
    return None if row is None else dict(row)


def anomaly_rows(
    conn: psycopg2.extensions.connection,
    *,
    detected_since: datetime | None = None,
    limit: int | None = None,
    order: RowOrder = "newest",
) -> list[dict[str, Any]]:
    """Event rows as dicts of `ROW_COLUMNS` (metrics and interpretation uncompacted), detected at or after
    `detected_since`, at most `limit` (None = all)."""
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT {', '.join(ROW_COLUMNS)} FROM anomalies"  # noqa: S608 - constant columns and order
            " WHERE (%(since)s::timestamptz IS NULL OR detected_at >= %(since)s)"
            f" ORDER BY {_ORDER_BY[order]} LIMIT %(limit)s",
            {"since": detected_since, "limit": None if limit is None else max(1, limit)},
        )
        return [dict(zip(ROW_COLUMNS, row, strict=True)) for row in cur.fetchall()]
