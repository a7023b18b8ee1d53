"""Benchmark: REST backfill of 160 markets × 24 h of 1-minute candles, against Upbit's rate limit.

The project's Upbit-protocol server serves the simulator's 24 h history with Upbit's own limit (10 candle requests/s
per IP, 429 above it). The backfill runs exactly as `upbit-llm backfill --since 24h` does (client paced at
UPBIT_REST_REQUESTS_PER_SECOND, pages of 200, each page committed with its cursor) into a throwaway database.
Printed next to it, measured in the same run: the floor Upbit's limit allows (requests / 10 per second), and the
same workload with the limit lifted (the client's own cost: HTTP, parsing, COPY-free upserts, commits).
"""

from __future__ import annotations

import math
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench.common import BenchFigure
from db.connection import connect, drop_database
from db.migrate import migrate
from fake_upbit.candles import RestLimits
from fake_upbit.server import FakeUpbitServer
from fake_upbit.sources import SimulatedSource
from ingest.rest_candles import MAX_COUNT, RestCandleClient, backfill
from upbit_core.settings import Settings

AREA = "backfill"
UPBIT_LIMIT_PER_SECOND = 10  # Upbit quotation REST, candles group, per IP


def _progress(text: str) -> None:
    print(f"[bench backfill] {text}", file=sys.stderr, flush=True)


def _one_run(settings: Settings, markets: int, hours: float, *, limited: bool) -> dict[str, float]:
    bench = settings.model_copy(
        update={
            "timescaledb_dbname": f"upbit_bench_backfill_{uuid.uuid4().hex[:8]}",
            "timescaledb_mode": "on" if settings.timescaledb_mode == "on" else "off",
        }
    )
    migrate(bench)
    start_ms = int(time.time() * 1000) // 60_000 * 60_000
    source = SimulatedSource(markets=markets, seed=1, start_ms=start_ms, history_hours=hours + 1, duration_s=60)
    limits = RestLimits(per_second=UPBIT_LIMIT_PER_SECOND if limited else 100_000)
    for code in source.simulator.codes:
        source.rest_history(code)  # generate the fake's history up front: real Upbit has no such cost
    server = FakeUpbitServer(source, speed=None, rest_limits=limits).start_in_thread()
    rate = settings.upbit_rest_requests_per_second if limited else 100_000.0
    client = RestCandleClient(server.rest_url, requests_per_second=rate)
    conn = connect(bench, application_name="bench-backfill")
    try:
        until = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
        started = time.perf_counter()
        job = backfill(
            conn,
            client,
            kind="backfill",
            since=until - timedelta(hours=hours),
            until=until,
            markets=source.simulator.codes,
        )
        seconds = time.perf_counter() - started
        return {
            "seconds": seconds,
            "pages": job.requests,
            "http_requests": client.stats.requests,
            "candles": job.candles,
            "throttled": client.stats.throttled,
            "blocked": client.stats.blocked,
            "server_max_per_second": server.rest.stats.per_second_max,
        }
    finally:
        client.close()
        conn.close()
        server.stop()
        drop_database(bench)


def run(settings: Settings, *, quick: bool = False) -> list[BenchFigure]:
    markets, hours = (40, 24.0) if quick else (160, 24.0)
    # Pages if every minute traded; a market with quiet minutes needs fewer (no candle for a minute without fills).
    minimum_pages = markets * math.ceil(hours * 60 / MAX_COUNT)
    floor_s = minimum_pages / UPBIT_LIMIT_PER_SECOND
    _progress(f"{markets} markets × {hours:.0f} h under Upbit's limit (≥ {floor_s:.0f} s at 10 requests/s) ...")
    limited = _one_run(settings, markets, hours, limited=True)
    _progress(f"done in {limited['seconds']:.1f}s; same workload with the limit lifted ...")
    free = _one_run(settings, markets, hours, limited=False)
    label = f"{markets} markets × {hours:.0f} h"
    data = f"simulator history (seed 1), {limited['candles']:,.0f} candles; machine shared with other runs"
    return [
        BenchFigure(
            AREA,
            f"backfill {label} (Upbit limit)",
            limited["seconds"],
            "s",
            goal=f"<= {floor_s * 1.5:.0f} (1.5× Upbit's floor)",
            met=limited["seconds"] <= floor_s * 1.5,
            baseline_name="floor at 10 req/s",
            baseline_value=floor_s,
            note=f"client paced at {settings.upbit_rest_requests_per_second:g}/s; {data}",
        ),
        BenchFigure(
            AREA,
            f"backfill {label} (limit lifted)",
            free["seconds"],
            "s",
            baseline_name="Upbit-limited run",
            baseline_value=limited["seconds"],
            note=(
                "our own cost (HTTP + parse + upsert + commit, with the fake server in the same process): "
                + (
                    "the rate limit is the bottleneck"
                    if free["seconds"] < 0.8 * limited["seconds"]
                    else "about as slow as the limit on this machine, so the limit is not the only bottleneck"
                )
            ),
        ),
        BenchFigure(
            AREA,
            "REST requests (pages of 200)",
            limited["http_requests"],
            "requests",
            goal=f"<= {minimum_pages} (pages of 200 over 1,440 minutes)",
            met=limited["http_requests"] <= minimum_pages,
            baseline_name="pages needed",
            baseline_value=minimum_pages,
            note=f"{limited['pages']:.0f} pages stored; 429s {limited['throttled']:.0f}, 418s {limited['blocked']:.0f}",
        ),
        BenchFigure(
            AREA,
            "max requests in one second (server count)",
            limited["server_max_per_second"],
            "req/s",
            goal=f"<= {UPBIT_LIMIT_PER_SECOND}",
            met=limited["server_max_per_second"] <= UPBIT_LIMIT_PER_SECOND and limited["throttled"] == 0,
            note="Upbit: 10/s per IP for candles; 429 above, 418 when ignored",
        ),
        BenchFigure(
            AREA,
            "candles stored per second (Upbit limit)",
            limited["candles"] / limited["seconds"],
            "candles/s",
            baseline_name="limit lifted",
            baseline_value=free["candles"] / free["seconds"],
        ),
    ]
