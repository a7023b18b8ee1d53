"""The latest stored LLM result (market summary, coin answer, interpretation), read from llm_results."""

from __future__ import annotations

from typing import Literal

import psycopg2.extensions

from analytics.freshness import freshness, utcnow
from analytics.models import Summary, SummaryResult

Kind = Literal["market_summary", "coin_qa", "anomaly_interpretation"]


def latest_summary(
    conn: psycopg2.extensions.connection,
    *,
    kind: Kind = "market_summary",
    market: str | None = None,
    language: str | None = None,
) -> SummaryResult:
    """The newest stored result of `kind` (optionally about `market`, in `language`), with its age."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT id, kind, text, as_of, created_at, model, offline, language, markets, grounded,
                   input_tokens, output_tokens, context_tokens, cost_usd
            FROM llm_results
            WHERE kind = %(kind)s
              AND (%(market)s::text IS NULL OR %(market)s = ANY(markets))
              AND (%(language)s::text IS NULL OR language = %(language)s)
            ORDER BY created_at DESC, id DESC
            LIMIT 1
            """,
            {"kind": kind, "market": market, "language": language},
        )
        row = cur.fetchone()
    fresh = freshness(conn, market=market) if market else freshness(conn)
    if row is None:
        return SummaryResult(found=False, freshness=fresh)
    summary = Summary(
        id=row[0],
        kind=row[1],
        text=row[2],
        as_of=row[3],
        created_at=row[4],
        model=row[5],
        offline=row[6],
        language=row[7],
        markets=list(row[8] or []),
        grounded=row[9],
        input_tokens=int(row[10] or 0),
        output_tokens=int(row[11] or 0),
        context_tokens=row[12],
        cost_usd=float(row[13] or 0),
    )
    age = (utcnow() - summary.as_of).total_seconds()
    return SummaryResult(found=True, summary=summary, age_seconds=round(age, 1), freshness=fresh)
