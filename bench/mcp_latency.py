"""MCP tool latency (p50/p95 per tool) over 10M ticker rows of history in a dedicated bench database.

The history is generated with one SQL `generate_series` per 500K rows straight into ticker_data (the real table, its
indexes and its invalidation trigger), then the real aggregate refresh runs, then every MCP tool is called through the
official SDK client (in-process transport) against the server built by `build_server`, on the read-only role.
Baselines, measured in the same run on the same read-only role and session settings: per tool, the best plain SQL
a competent engineer would write for the same answer over the raw ticks (BASELINES below).

    python -m bench.mcp_latency [--rows 10000000] [--calls 40] [--regenerate]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
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


def _mode_of(settings: Settings) -> str:
    from db.connection import connect

    conn = connect(settings, application_name="bench-mcp")
    try:
        return "TimescaleDB mode" if _mode(conn) == "timescaledb" else "plain PostgreSQL mode"
    finally:
        conn.close()


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


# Per tool, the best plain query a competent engineer would write for the same answer straight from the raw ticks
# (no ohlcv_1m aggregate, no ticker_latest): per-market LATERAL probes down the (code, time) index instead of one
# DISTINCT ON scan, a bounded range for windows. The anomaly and summary tools read the same small tables either way.
_LATEST = (
    "SELECT m.code, m.korean_name, t.time, t.trade_price, t.signed_change_rate, t.acc_trade_price_24h "
    "FROM markets m CROSS JOIN LATERAL (SELECT time, trade_price, signed_change_rate, acc_trade_price_24h "
    "FROM ticker_data d WHERE d.code = m.code ORDER BY d.time DESC LIMIT 1) t WHERE m.quote = 'KRW' AND m.listed"
)
_WINDOWED = f"""
WITH l AS MATERIALIZED ({_LATEST}), a AS (SELECT max(time) AS t FROM l)
SELECT l.*, p5.trade_price AS p5, p1h.trade_price AS p1h, v.value
FROM l CROSS JOIN a
LEFT JOIN LATERAL (SELECT trade_price FROM ticker_data d WHERE d.code = l.code AND d.time <= a.t - interval '5 minutes'
                   ORDER BY d.time DESC LIMIT 1) p5 ON true
LEFT JOIN LATERAL (SELECT trade_price FROM ticker_data d WHERE d.code = l.code AND d.time <= a.t - interval '1 hour'
                   ORDER BY d.time DESC LIMIT 1) p1h ON true
LEFT JOIN LATERAL (SELECT sum(trade_price * trade_volume) AS value FROM ticker_data d
                   WHERE d.code = l.code AND d.time > a.t - interval '1 hour') v ON true
"""  # noqa: S608 - composed of constants
BASELINES: dict[str, tuple[str, list[str]]] = {
    "market_overview": (
        "per-market LATERAL latest + 5m/1h reference + 1h value from raw ticks, open anomalies",
        [_WINDOWED, "SELECT * FROM anomalies WHERE status IN ('open', 'escalated') ORDER BY started_at DESC LIMIT 5"],
    ),
    "coin_brief": (
        "one coin from raw ticks: latest, 1m/5m/1h references, 1h value and buy share, prior-24h value",
        [
            """WITH l AS (SELECT * FROM ticker_data WHERE code = %(code)s ORDER BY time DESC LIMIT 1)
            SELECT l.trade_price, l.signed_change_rate,
              (SELECT trade_price FROM ticker_data d WHERE d.code = l.code AND d.time <= l.time - interval '1 minute'
               ORDER BY d.time DESC LIMIT 1),
              (SELECT trade_price FROM ticker_data d WHERE d.code = l.code AND d.time <= l.time - interval '5 minutes'
               ORDER BY d.time DESC LIMIT 1),
              (SELECT trade_price FROM ticker_data d WHERE d.code = l.code AND d.time <= l.time - interval '1 hour'
               ORDER BY d.time DESC LIMIT 1),
              (SELECT sum(trade_price * trade_volume) FILTER (WHERE time > l.time - interval '1 hour')
                      || ',' || sum(trade_price * trade_volume) FILTER (WHERE ask_bid = 'BID'
                                                                          AND time > l.time - interval '1 hour')
                      || ',' || sum(trade_price * trade_volume) FILTER (WHERE time <= l.time - interval '1 hour')
               FROM ticker_data d WHERE d.code = l.code AND d.time > l.time - interval '25 hours')
            FROM l""",
            "SELECT * FROM anomalies WHERE market = %(code)s ORDER BY started_at DESC LIMIT 3",
        ],
    ),
    "top_movers 1h": (
        "per-market LATERAL latest + 1h reference + 1h value from raw ticks, ranked",
        [f"SELECT * FROM ({_WINDOWED}) w ORDER BY abs(trade_price / p1h - 1) DESC NULLS LAST LIMIT 10"],  # noqa: S608
    ),
    "top_movers 24h": (
        "per-market LATERAL latest from raw ticks, ranked by |signed_change_rate|",
        [f"SELECT * FROM ({_LATEST}) l ORDER BY abs(signed_change_rate) DESC NULLS LAST LIMIT 10"],  # noqa: S608
    ),
    "candles": (
        "date_bin over the coin's raw ticks in the range (open/close by array_agg order)",
        [
            """SELECT date_bin(%(step)s::interval, time, TIMESTAMPTZ '2000-01-01') AS t,
                 (array_agg(trade_price ORDER BY time))[1], max(trade_price), min(trade_price),
                 (array_agg(trade_price ORDER BY time DESC))[1], sum(trade_volume), sum(trade_price * trade_volume),
                 count(*)
               FROM ticker_data WHERE code = %(code)s AND time > (SELECT max(time) FROM ticker_data
                                                                  WHERE code = %(code)s) - %(span)s::interval
               GROUP BY 1 ORDER BY 1"""
        ],
    ),
    "anomalies": ("the same anomalies query", ["SELECT * FROM anomalies ORDER BY started_at DESC LIMIT 20"]),
    "latest_summary": (
        "the same llm_results query",
        ["SELECT * FROM llm_results WHERE kind = 'market_summary' ORDER BY created_at DESC LIMIT 1"],
    ),
    "search_markets": ("load the catalog per call", ["SELECT code, korean_name, english_name, listed FROM markets"]),
}


def baseline_for(name: str, args: dict[str, Any]) -> tuple[str, list[str], dict[str, Any]]:
    """The plain-SQL baseline for one timed call: (description, statements, parameters)."""
    key = name
    if name == "top_movers":
        key = f"top_movers {'1h' if args.get('window') in ('1h', '5m', '1m') else '24h'}"
    desc, statements = BASELINES[key]
    coin = str(args.get("coin", "KRW-BTC"))
    code = {"이더리움": "KRW-ETH"}.get(coin, coin if coin.startswith("KRW-") else f"KRW-{coin}")
    interval = str(args.get("interval", "5m"))
    step = {"1m": "1 minute", "5m": "5 minutes", "1h": "1 hour"}[interval]
    minutes = {"1m": 1, "5m": 5, "1h": 60}[interval] * int(args.get("limit", 60))
    return desc, statements, {"code": code, "step": step, "span": f"{minutes} minutes"}


async def _time_tools(settings: Settings, calls: int) -> dict[str, tuple[list[float], list[float]]]:
    """Per call label: (tool samples, baseline samples). Baseline runs are interleaved with the tool calls (one after
    every fourth call), so load from other work on the machine falls on both alike."""
    import psycopg2
    from mcp import Client
    from mcp.types import TextContent

    from upbit_mcp.server import build_server

    # The app's read-only role with the MCP pool's session settings (JIT off, read-only); the statement timeout is
    # lifted so a slow baseline is measured rather than cancelled.
    base = psycopg2.connect(
        settings.readonly_dsn(),
        application_name="bench-mcp-baseline",
        options="-c default_transaction_read_only=on -c jit=off -c statement_timeout=0",
    )
    base.autocommit = True

    def baseline(statements: list[str], params: dict[str, Any]) -> float:
        t0 = time.perf_counter()
        with base.cursor() as cur:
            for sql in statements:
                cur.execute(sql, params)
                cur.fetchall()
        return (time.perf_counter() - t0) * 1000

    out: dict[str, tuple[list[float], list[float]]] = {}
    try:
        async with Client(build_server(settings)) as client:
            for name, args in CALLS:
                label = name + ("" if not args else " " + ",".join(f"{k}={v}" for k, v in args.items()))
                _, statements, params = baseline_for(name, args)
                for _ in range(3):  # warm-up: pool, catalog cache, buffer cache
                    result = await client.call_tool(name, args)
                    if result.is_error:
                        first = result.content[0] if result.content else None
                        raise RuntimeError(f"{label} failed: {first.text if isinstance(first, TextContent) else ''}")
                baseline(statements, params)
                samples: list[float] = []
                base_samples: list[float] = []
                for i in range(calls):
                    t0 = time.perf_counter()
                    await client.call_tool(name, args)
                    samples.append((time.perf_counter() - t0) * 1000)
                    if i % 4 == 3:
                        base_samples.append(baseline(statements, params))
                out[label] = (samples, base_samples)
                _progress(
                    f"{label}: p50 {percentile(samples, 50):.1f} ms p95 {percentile(samples, 95):.1f} ms; "
                    f"baseline p95 {percentile(base_samples, 95):.1f} ms"
                )
    finally:
        base.close()
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
    samples = asyncio.run(_time_tools(bs, calls))
    data = f"{present:,} generated ticker rows, {markets} markets, {HISTORY_DAYS} days, plain SQL from {_mode_of(bs)}"
    figures = []
    for (name, args), (label, (values, base)) in zip(CALLS, samples.items(), strict=True):
        desc, _, _ = baseline_for(name, args)
        p95 = percentile(values, 95)
        figures.append(
            BenchFigure(
                area="mcp",
                name=f"{label} p95",
                value=round(p95, 2),
                unit="ms",
                goal=f"<= {GOAL_P95_MS:.0f}",
                met=p95 <= GOAL_P95_MS,
                baseline_name=f"plain SQL: {desc} (p95 of {len(base)})",
                baseline_value=round(percentile(base, 95), 2),
                note=f"p50 {percentile(values, 50):.1f} ms, {len(values)} calls through the SDK client "
                f"(in-process); baseline p50 {percentile(base, 50):.1f} ms, interleaved; load average "
                f"{os.getloadavg()[0]:.1f}; data: {data}",
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
    print(figures[0].note.split("data: ", 1)[1] if figures else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
