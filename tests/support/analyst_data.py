"""Small simulator fills for the Celery/LLM tests: a catalog and a few minutes of tickers ending now."""

from __future__ import annotations

import time
from collections.abc import Iterator

from db.connection import connect
from db.maintenance import refresh_aggregates
from fake_upbit.simulator import MarketSimulator
from tests.support.rows import load_catalog, load_messages
from upbit_core.settings import Settings


def fill_market(settings: Settings, *, markets: int = 30, seconds: float = 300, rate: float = 40, seed: int = 3) -> int:
    """Load `seconds` of simulated tickers for `markets` KRW markets ending about now; returns rows stored."""
    start_ms = int(time.time() * 1000 - seconds * 1000)
    sim = MarketSimulator(markets=markets, seed=seed, start_ms=start_ms, rate=rate, events=True)
    load_catalog(settings, sim.catalog())
    stored = load_messages(settings, sim.messages(seconds))
    conn = connect(settings)
    try:
        refresh_aggregates(conn)
    finally:
        conn.close()
    return stored


def insert_anomaly(settings: Settings, market: str = "KRW-W", kind: str = "value_spike", severity: str = "high") -> int:
    """One open anomaly row as the anomaly scan would write it (metrics copied by the interpretation)."""
    conn = connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(
                """INSERT INTO anomalies (market, kind, severity, status, started_at, detected_at, metrics, dedup_key)
                   VALUES (%s, %s, %s, 'open', now() - interval '2 minutes', now(), %s::jsonb, %s) RETURNING id""",
                (market, kind, severity, '{"value_ratio": 6.5, "change_5m_pct": 4.2}', f"test-{market}-{kind}"),
            )
            row = cur.fetchone()
        conn.commit()
        assert row is not None
        return int(row[0])
    finally:
        conn.close()


def filled_database(**fill: object) -> Iterator[Settings]:
    """A migrated scratch database filled once (use from a module-scoped fixture; pair with `clear_llm_state`)."""
    from tests.conftest import make_scratch_db

    gen = make_scratch_db()
    settings = next(gen)
    try:
        fill_market(settings, **fill)  # type: ignore[arg-type]
        yield settings
    finally:
        gen.close()


def clear_llm_state(settings: Settings) -> None:
    """Forget every LLM result, call and anomaly, so each test starts from the same filled market."""
    conn = connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("TRUNCATE llm_calls, llm_results, alert_deliveries, anomalies RESTART IDENTITY CASCADE")
        conn.commit()
    finally:
        conn.close()
