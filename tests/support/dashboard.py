"""Dashboard test data: a scratch database filled by the market simulator, and stored anomalies/summaries."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from db.connection import connect
from fake_upbit.simulator import MarketSimulator
from tests.support.rows import load_catalog, load_messages
from upbit_core.settings import Settings


@dataclass(frozen=True)
class Filled:
    markets: int
    rows: int
    start: datetime
    end: datetime
    codes: list[str]


def fill_with_simulator(
    settings: Settings, *, markets: int = 30, minutes: int = 75, rate: float = 12.0, seed: int = 7
) -> Filled:
    """`minutes` of simulated trading ending now (so the data is fresh), written with the consumer's writer.

    75 minutes gives several 1h candles' worth of 1m/5m bars and a 1 h change for every market.
    """
    duration = minutes * 60
    end_ms = int(time.time() * 1000)
    sim = MarketSimulator(markets=markets, seed=seed, start_ms=end_ms - duration * 1000, rate=rate)
    catalog = sim.catalog()
    load_catalog(settings, catalog)
    rows = load_messages(settings, sim.messages(duration))
    return Filled(
        markets=len(catalog),
        rows=rows,
        start=datetime.fromtimestamp((end_ms - duration * 1000) / 1000, UTC),
        end=datetime.fromtimestamp(end_ms / 1000, UTC),
        codes=[c["market"] for c in catalog],
    )


def insert_anomaly(
    settings: Settings,
    market: str,
    *,
    kind: str = "value_spike",
    severity: str = "high",
    started_at: datetime | None = None,
    metrics: dict[str, Any] | None = None,
    interpretation: str | None = None,
) -> int:
    """Store one anomaly the way the detector does (writer role); returns its id."""
    started = started_at or datetime.now(UTC) - timedelta(minutes=2)
    conn = connect(settings, application_name="tests-dashboard")
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO anomalies (market, kind, severity, status, started_at, detected_at, metrics,"
                " interpretation, dedup_key) VALUES (%s, %s, %s, 'open', %s, %s, %s, %s, %s) RETURNING id",
                (
                    market,
                    kind,
                    severity,
                    started,
                    started + timedelta(seconds=20),
                    json.dumps(metrics or {"price_change_pct": 4.2, "value_ratio": 6.5, "buy_share_pct": 81.0}),
                    json.dumps({"text": interpretation}) if interpretation else None,
                    f"test-{uuid.uuid4().hex}",
                ),
            )
            row = cur.fetchone()
        conn.commit()
    finally:
        conn.close()
    assert row is not None
    return int(row[0])
