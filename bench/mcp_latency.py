"""MCP tool latency (p50/p95 per tool) over 10M ticker rows of history in a dedicated bench database.

The history is generated with one SQL `generate_series` per 500K rows straight into ticker_data (the real table, its
indexes and its invalidation trigger), then the real aggregate refresh runs, then every MCP tool is called through the
official SDK client (in-process transport) against the server built by `build_server`, on the read-only role.
Baseline, measured in the same run: the naive "latest ticker of every market" DISTINCT ON over the raw table.

    python -m bench.mcp_latency [--rows 10000000] [--calls 40] [--regenerate]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import BenchFigure, percentile
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 500_000
HISTORY_DAYS = 7
GOAL_P95_MS = 50.0

# (tool, arguments) timed by the benchmark.
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("market_overview", {}),
    ("coin_brief", {"coin": "KRW-BTC"}),
    ("coin_brief", {"coin": "이더리움"}),
    ("top_movers", {"window": "1h", "limit": 10}),
    ("top_movers", {"window": "24h", "limit": 10}),
    ("candles", {"coin": "KRW-BTC", "interval": "5m", "limit": 60}),
    ("candles", {"coin": "KRW-ETH", "interval": "1h", "limit": 24}),
    ("candles", {"coin": "KRW-ETH", "interval": "1h", "limit": 168}),  # a week of minutes: the stress case
    ("anomalies", {"status": "all"}),
    ("latest_summary", {}),
    ("search_markets", {"query": "비트랑 이더 어때?"}),
]


def bench_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"timescaledb_dbname": f"{settings.timescaledb_dbname}_bench_mcp"})


def _progress(message: str) -> None:
    print(f"[bench mcp] {message}", file=sys.stderr, flush=True)


def generate(settings: Settings, rows: int, markets: int, *, days: int = HISTORY_DAYS) -> None:
    """Fill the bench database with `rows` ticks over `days` ending now, then refresh the aggregates."""
    from db.connection import connect
    from fake_upbit.simulator import MarketSimulator
    from ingest.catalog import store_catalog

    sim = MarketSimulator(markets=markets, seed=7)
    conn = connect(settings, application_name="bench-mcp-generate")
    try:
        store_catalog(conn, sim.catalog())
        with conn.cursor() as cur:
            cur.execute("TRUNCATE ticker_data, ticker_latest")
            if _mode(conn) == "postgres":  # TimescaleDB mode keeps these in its continuous aggregate
                cur.execute("TRUNCATE agg_invalidations, ohlcv_1m_store")
            cur.execute("CREATE TEMP TABLE bench_codes (n int PRIMARY KEY, code text, base double precision)")
            for n, item in enumerate(sim.catalog()):
                base = 10 ** (1 + (n * 7919 % 50) / 10)  # 10 .. 10^6 KRW, deterministic
                if item["market"] == "KRW-BTC":
                    base = 140_000_000.0
                elif item["market"] == "KRW-ETH":
                    base = 5_000_000.0
                cur.execute("INSERT INTO bench_codes VALUES (%s, %s, %s)", (n, item["market"], base))
            cur.execute("SELECT now()")
            end = cur.fetchone()[0]  # type: ignore[index]
        conn.commit()
        per_market = rows // markets
        step_ms = days * 86_400_000 / per_market
        started = time.monotonic()
        for lo in range(0, rows, CHUNK):
            hi = min(rows, lo + CHUNK) - 1
            with conn.cursor() as cur:
                cur.execute(
                    _INSERT_SQL, {"lo": lo, "hi": hi, "markets": markets, "total": rows, "step": step_ms, "end": end}
                )
            conn.commit()
            done = hi + 1
            rate = done / max(time.monotonic() - started, 1e-6)
            _progress(f"generated {done:,}/{rows:,} rows ({rate:,.0f} rows/s)")
        finish(conn, end)
    finally:
        conn.close()


def finish(conn: Any, end: Any) -> None:
    """After the raw rows: the latest ticker per market, statistics, and the real aggregate refresh."""
    from db.maintenance import refresh_aggregates

    with conn.cursor() as cur:
        cur.execute("DELETE FROM ticker_latest")
        cur.execute(
            "INSERT INTO ticker_latest SELECT DISTINCT ON (code) * FROM ticker_data "
            "WHERE time > %s - interval '1 hour' ORDER BY code, time DESC",
            (end,),
        )
        cur.execute("ANALYZE ticker_data")
    conn.commit()
    _progress("refreshing aggregates (real refresh_aggregates)")
    result = refresh_aggregates(conn)
    conn.commit()
    # What autovacuum does in production between refreshes: the drained invalidation log (plain PostgreSQL mode)
    # and the visibility map that index-only scans need.
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    conn.autocommit = False
    _progress(f"aggregates refreshed in {result.seconds:.1f}s buckets={result.buckets}")


def _mode(conn: Any) -> str:
    from db.migrate import current_mode

    return current_mode(conn) or "postgres"


# Prices: a slow wave per market plus noise; fills alternate buyer/seller at random. Event time ascends with i.
_INSERT_SQL = """
INSERT INTO ticker_data (
    time, code, msg_id, opening_price, high_price, low_price, trade_price, prev_closing_price, change,
    change_price, signed_change_price, change_rate, signed_change_rate, trade_volume, acc_trade_volume,
    acc_trade_volume_24h, acc_trade_price, acc_trade_price_24h, trade_date, trade_time, trade_timestamp, ask_bid,
    acc_ask_volume, acc_bid_volume, highest_52_week_price, highest_52_week_date, lowest_52_week_price,
    lowest_52_week_date, market_state, is_trading_suspended, market_warning, "timestamp", stream_type, received_at
)
SELECT
    p.t, c.code, md5(c.code || ':' || g.i)::uuid, c.base, c.base * 1.1, c.base * 0.9, p.price, c.base,
    CASE WHEN p.price > c.base THEN 'RISE' WHEN p.price < c.base THEN 'FALL' ELSE 'EVEN' END,
    abs(p.price - c.base), p.price - c.base, abs(p.price / c.base - 1), p.price / c.base - 1,
    p.vol, p.vol * 1000, p.vol * 2000, p.vol * 1000 * p.price, p.vol * 2000 * p.price,
    to_char(p.t AT TIME ZONE 'UTC', 'YYYYMMDD'), to_char(p.t AT TIME ZONE 'UTC', 'HH24MISS'),
    (extract(epoch FROM p.t) * 1000)::bigint, CASE WHEN random() < 0.5 THEN 'BID' ELSE 'ASK' END,
    p.vol * 500, p.vol * 500, c.base * 2, DATE '2026-03-01', c.base / 2, DATE '2026-08-01',
    'ACTIVE', false, 'NONE', (extract(epoch FROM p.t) * 1000)::bigint, 'REALTIME', p.t
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g(i)
JOIN bench_codes c ON c.n = g.i %% %(markets)s
CROSS JOIN LATERAL (
    SELECT
        %(end)s::timestamptz - make_interval(secs => ((%(total)s - 1 - g.i) / %(markets)s) * %(step)s / 1000.0) AS t,
        c.base * (1 + 0.08 * sin(g.i::double precision / (%(markets)s * 700.0) + c.n) + 0.004 * random()) AS price,
        0.01 + random() * 2 AS vol
) p
"""


def _rows_present(settings: Settings) -> int:
    from db.connection import connect

    conn = connect(settings, application_name="bench-mcp")
    try:
        with conn.cursor() as cur:
            # A hypertable's parent holds no rows: TimescaleDB estimates over its chunks.
            if _mode(conn) == "timescaledb":
                cur.execute("SELECT approximate_row_count('ticker_data')")
            else:
                cur.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'ticker_data'")
            row = cur.fetchone()
        return int(row[0]) if row and row[0] and row[0] > 0 else 0
    finally:
        conn.close()


def _baseline_ms(settings: Settings, repeat: int = 1) -> float:
    """The naive way: latest ticker of every market by DISTINCT ON over the raw ticks."""
    from db.connection import connect

    conn = connect(settings, application_name="bench-mcp-baseline")
    times = []
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute("SELECT DISTINCT ON (code) code, trade_price FROM ticker_data ORDER BY code, time DESC")
                cur.fetchall()
            times.append((time.perf_counter() - t0) * 1000)
        conn.rollback()
    finally:
        conn.close()
    return min(times)


async def _time_tools(settings: Settings, calls: int) -> dict[str, list[float]]:
    from mcp import Client
    from mcp.types import TextContent

    from upbit_mcp.server import build_server

    out: dict[str, list[float]] = {}
    async with Client(build_server(settings)) as client:
        for name, args in CALLS:
            label = name + ("" if not args else " " + ",".join(f"{k}={v}" for k, v in args.items()))
            for _ in range(3):  # warm-up: pool, catalog cache, buffer cache
                result = await client.call_tool(name, args)
                if result.is_error:
                    first = result.content[0] if result.content else None
                    raise RuntimeError(f"{label} failed: {first.text if isinstance(first, TextContent) else ''}")
            samples = []
            for _ in range(calls):
                t0 = time.perf_counter()
                await client.call_tool(name, args)
                samples.append((time.perf_counter() - t0) * 1000)
            out[label] = samples
            _progress(f"{label}: p50 {percentile(samples, 50):.1f} ms p95 {percentile(samples, 95):.1f} ms")
    return out


def run(
    settings: Settings,
    *,
    rows: int = 10_000_000,
    markets: int = 160,
    calls: int = 40,
    regenerate: bool = False,
    quick: bool = False,
) -> list[BenchFigure]:
    from db.migrate import migrate

    if quick:
        rows = min(rows, 1_000_000)
    bs = bench_settings(settings)
    migrate(bs)
    present = _rows_present(bs)
    if regenerate or present < rows * 0.95:
        _progress(f"bench database {bs.timescaledb_dbname}: generating {rows:,} rows for {markets} markets")
        generate(bs, rows, markets)
    else:
        _progress(f"bench database {bs.timescaledb_dbname}: reusing ~{present:,} rows (--regenerate to rebuild)")
    present = _rows_present(bs)
    baseline = _baseline_ms(bs)
    samples = asyncio.run(_time_tools(bs, calls))
    figures = []
    for label, values in samples.items():
        p95 = percentile(values, 95)
        figures.append(
            BenchFigure(
                area="mcp",
                name=f"{label} p95",
                value=round(p95, 2),
                unit="ms",
                goal=f"<= {GOAL_P95_MS:.0f}",
                met=p95 <= GOAL_P95_MS,
                baseline_name="raw DISTINCT ON latest-per-market",
                baseline_value=round(baseline, 1),
                note=f"p50 {percentile(values, 50):.1f} ms, {len(values)} calls, {present:,} ticker rows",
            )
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    from upbit_core.logging_setup import configure_logging
    from upbit_core.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--markets", type=int, default=160)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    figures = run(get_settings(), rows=args.rows, markets=args.markets, calls=args.calls, regenerate=args.regenerate)
    print(f"{'tool':58} {'p50 ms':>8} {'p95 ms':>8}  goal p95<=50  baseline")
    for f in figures:
        p50 = f.note.split(" ms")[0].removeprefix("p50 ")
        print(
            f"{f.name.removesuffix(' p95'):58} {p50:>8} {f.value:>8.1f}  {'met' if f.met else 'NOT met':11}  "
            f"{f.baseline_name} {f.baseline_value} ms"
        )
    print(figures[0].note.split(", ", 1)[1] if figures else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
