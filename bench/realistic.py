"""A realistic, non-empty market database for token and budget measurements: the simulator's 160 KRW markets with
injected pumps/dumps/spikes written through the consumer's writer, the real anomaly scan over them, and stored
offline summaries, a coin answer and an anomaly reading — what `upbit-llm tokens`, `bench tokens` and the budget
tests measure tool results on (empty anomaly and summary tables flatter every count)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from pydantic import SecretStr

from upbit_core.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class FillReport:
    rows: int
    markets: int
    anomalies_open: int
    anomalies_total: int
    summaries: int


def fill_realistic(
    settings: Settings, *, markets: int = 160, minutes: int = 75, rate: float = 6.0, seed: int = 11
) -> FillReport:
    """Replace the database's tickers with `minutes` of simulated market ending now, then scan and summarise."""
    from anomaly.scan import run_scan
    from db.connection import connect
    from db.maintenance import refresh_aggregates
    from fake_upbit.simulator import MarketSimulator
    from ingest.catalog import store_catalog
    from ingest.writer import write_messages
    from llm.interpret import interpret_anomaly
    from llm.qa import answer_question
    from llm.summary import produce_summary

    offline = settings.model_copy(update={"anthropic_api_key": SecretStr("")})
    start_ms = int(time.time() * 1000) - minutes * 60_000
    sim = MarketSimulator(markets=markets, seed=seed, start_ms=start_ms, rate=rate, events=True)
    conn = connect(settings, application_name="bench-realistic")
    try:
        with conn.cursor() as cur:
            cur.execute("TRUNCATE ticker_data, ticker_latest")
            cur.execute("TRUNCATE llm_calls, llm_results, alert_deliveries, anomalies RESTART IDENTITY CASCADE")
        conn.commit()
        store_catalog(conn, sim.catalog())
        rows = write_messages(conn, sim.messages(minutes * 60)).inserted
        refresh_aggregates(conn)
        conn.commit()
    finally:
        conn.close()
    run_scan(offline, live=False)
    conn = connect(settings, application_name="bench-realistic")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT max(time) FROM ticker_data")
            as_of = cur.fetchone()[0]  # type: ignore[index]
            cur.execute("SELECT count(*) FILTER (WHERE status IN ('open', 'escalated')), count(*) FROM anomalies")
            open_count, total = cur.fetchone()  # type: ignore[misc]
            # The detector resolves most injected events by the end of the replay; a live market has a few open.
            for i, (code, kind, severity) in enumerate(
                [("KRW-BTC", "value_spike", "high"), ("KRW-ETH", "price_jump", "medium"), ("KRW-XRP", "pump", "low")]
            ):
                if open_count + i >= 3:
                    break
                cur.execute(
                    "INSERT INTO anomalies (market, kind, severity, status, started_at, detected_at, metrics, "
                    "dedup_key) VALUES (%s, %s, %s, 'open', %s, %s, %s::jsonb, %s)",
                    (
                        code,
                        kind,
                        severity,
                        as_of - timedelta(minutes=4 + i),
                        as_of - timedelta(minutes=2),
                        '{"value_ratio": 6.5, "change_5m_pct": 4.2}',
                        f"realistic-{code}-{kind}",
                    ),
                )
            cur.execute("SELECT count(*) FILTER (WHERE status IN ('open', 'escalated')), count(*) FROM anomalies")
            open_count, total = cur.fetchone()  # type: ignore[misc]
            cur.execute("SELECT id FROM anomalies ORDER BY detected_at DESC LIMIT 1")
            newest = cur.fetchone()
        conn.commit()
    finally:
        conn.close()
    for language in ("ko", "en"):
        produce_summary(offline.model_copy(update={"report_language": language}))
    answer_question(offline, "비트코인 지금 어때?")
    if newest:
        interpret_anomaly(offline, int(newest[0]))
    conn = connect(settings, application_name="bench-realistic")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM llm_results")
            summaries = int(cur.fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()
    log.info("realistic fill rows=%s anomalies=%s open=%s llm_results=%s", rows, total, open_count, summaries)
    return FillReport(int(rows), markets, int(open_count), int(total), summaries)
