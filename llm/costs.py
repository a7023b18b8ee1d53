"""LLM usage and cost report per UTC day and task kind, from llm_calls (view llm_costs_daily)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg2.extensions

from llm.pricing import price_for


@dataclass
class CostRow:
    day: str
    task_kind: str
    calls: int
    errors: int
    offline_calls: int
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_read_tokens: int
    cost_usd: float
    avg_latency_ms: int | None


@dataclass
class CostReport:
    days: int
    rows: list[CostRow] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    models: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"days": self.days, "rows": [asdict(r) for r in self.rows], "totals": self.totals, "models": self.models}


def cost_report(conn: psycopg2.extensions.connection, *, days: int = 7) -> CostReport:
    """Rows for the last `days` UTC days (today included), newest day first, plus totals and per-model prices."""
    days = max(1, min(days, 3650))
    with conn.cursor() as cur:
        cur.execute(
            """SELECT day, task_kind, calls, errors, offline_calls, input_tokens, output_tokens,
                      cache_creation_tokens, cache_read_tokens, cost_usd, avg_latency_ms
               FROM llm_costs_daily
               WHERE day > (now() AT TIME ZONE 'UTC')::date - %s
               ORDER BY day DESC, task_kind""",
            (days,),
        )
        rows = [
            CostRow(
                day=r[0].isoformat(),
                task_kind=r[1],
                calls=int(r[2]),
                errors=int(r[3]),
                offline_calls=int(r[4]),
                input_tokens=int(r[5]),
                output_tokens=int(r[6]),
                cache_creation_tokens=int(r[7]),
                cache_read_tokens=int(r[8]),
                cost_usd=float(r[9]),
                avg_latency_ms=r[10],
            )
            for r in cur.fetchall()
        ]
        cur.execute(
            """SELECT model, count(*), coalesce(sum(cost_usd), 0) FROM llm_calls
               WHERE created_at > now() - make_interval(days => %s) GROUP BY model ORDER BY 3 DESC""",
            (days,),
        )
        models = []
        for model, calls, cost in cur.fetchall():
            price, exact = price_for(model)
            models.append(
                {
                    "model": model,
                    "calls": int(calls),
                    "cost_usd": float(cost),
                    "usd_per_mtok": {
                        "input": float(price.input),
                        "output": float(price.output),
                        "cache_write": float(price.cache_write),
                        "cache_read": float(price.cache_read),
                    },
                    "price_exact": exact,
                }
            )
    conn.commit()
    totals = {
        "calls": sum(r.calls for r in rows),
        "errors": sum(r.errors for r in rows),
        "input_tokens": sum(r.input_tokens for r in rows),
        "output_tokens": sum(r.output_tokens for r in rows),
        "cache_creation_tokens": sum(r.cache_creation_tokens for r in rows),
        "cache_read_tokens": sum(r.cache_read_tokens for r in rows),
        "cost_usd": round(sum(r.cost_usd for r in rows), 6),
    }
    return CostReport(days=days, rows=rows, totals=totals, models=models)
