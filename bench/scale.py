"""Scale: MCP tool and dashboard latency, storage and refresh cost as history grows (`upbit-llm bench scale`).

For each size (ticks over days of history, 160 markets by default) a bench database `<TIMESCALEDB_DBNAME>_bench_scale_
<rows>_<days>d` is filled with real-format ticker rows (the generator of bench.mcp_latency: one SQL generate_series
per 500K rows into the real ticker_data, every one of its 36 columns filled), the real refresh_aggregates runs (its
per-level seconds are the "initial" refresh), then one more minute of ticks for every market arrives and is refreshed
(the "incremental" refresh a live system runs every minute). In TimescaleDB mode every tick chunk but the newest
day and every aggregate chunk is then compressed (what the compression policies do), and bytes per row are measured
before and after. Then every MCP tool (official SDK client, in-process) and the dashboard API (real HTTP, uvicorn)
are timed, next to a fair baseline measured in the same run: the same question answered from the raw tick table
(candles aggregated from ticks, the coin brief's 25 h window, the latest ticker of every market by DISTINCT ON).

Growth: p95 ~ size^b fitted by least squares on log-log over the sizes; b < 0.1 is reported "flat", b < 0.5 "log"
(sub-linear), otherwise "linear". With two sizes it is the slope between them: an estimate, labelled so.

    upbit-llm bench scale                      # sizes 1M ticks/30 days and 10M ticks/365 days
    python -m bench.scale --sizes 1M:30,10M:365 --calls 30 [--regenerate]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.common import BenchFigure, percentile
from upbit_core.settings import Settings

GOAL_P95_MS = 50.0
DEFAULT_SIZES = "1M:30,10M:365"
QUICK_SIZES = "200K:7,1M:30"
CHUNK = 500_000

# (tool, arguments): the MCP tools as bench.mcp_latency calls them, plus the long candle ranges history makes
# possible (500 hourly candles = 21 days).
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("market_overview", {}),
    ("coin_brief", {"coin": "KRW-BTC"}),
    ("top_movers", {"window": "1h", "limit": 10}),
    ("top_movers", {"window": "24h", "limit": 10}),
    ("candles", {"coin": "KRW-BTC", "interval": "5m", "limit": 60}),
    ("candles", {"coin": "KRW-ETH", "interval": "1h", "limit": 168}),
    ("candles", {"coin": "KRW-ETH", "interval": "1h", "limit": 500}),
    ("anomalies", {"status": "all"}),
    ("latest_summary", {}),
    ("search_markets", {"query": "비트랑 이더 어때?"}),
]
ENDPOINTS = [
    ("GET /api/overview", "/api/overview"),
    ("GET /api/coins/KRW-BTC", "/api/coins/KRW-BTC"),
    ("GET /api/candles 1m x300", "/api/candles/KRW-BTC?interval=1m&limit=300"),
    ("GET /api/candles 1h x168", "/api/candles/KRW-ETH?interval=1h&limit=168"),
]
# The same questions from the raw tick table: what the aggregates save.
BASELINES: list[tuple[str, str]] = [
    (
        "raw: KRW-ETH 168 hourly candles from ticks",
        "SELECT date_bin('1 hour', time, TIMESTAMPTZ '2000-01-01'), (array_agg(trade_price ORDER BY time))[1], "
        "max(trade_price), min(trade_price), (array_agg(trade_price ORDER BY time DESC))[1], sum(trade_volume) "
        "FROM ticker_data WHERE code = 'KRW-ETH' AND time > (SELECT max(time) FROM ticker_data WHERE code = "
        "'KRW-ETH') - interval '168 hours' GROUP BY 1",
    ),
    (
        "raw: KRW-BTC 25 h value window from ticks",
        "SELECT sum(trade_volume * trade_price), min(time) FROM ticker_data WHERE code = 'KRW-BTC' AND time > "
        "(SELECT max(time) FROM ticker_data WHERE code = 'KRW-BTC') - interval '25 hours'",
    ),
    (
        "raw: latest ticker per market (DISTINCT ON)",
        "SELECT DISTINCT ON (code) code, trade_price FROM ticker_data ORDER BY code, time DESC",
    ),
]


def _progress(message: str) -> None:
    print(f"[bench scale] {message}", file=sys.stderr, flush=True)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """ "1M:30,10M:365" → [(1_000_000, 30), (10_000_000, 365)] (rows with K/M suffix, days of history)."""
    out = []
    for part in text.split(","):
        rows_text, _, days_text = part.strip().partition(":")
        mult = {"K": 1_000, "M": 1_000_000}.get(rows_text[-1:].upper(), 1)
        rows = int(float(rows_text.rstrip("kKmM")) * mult)
        days = int(days_text or 30)
        if rows < 1000 or days < 1:
            raise ValueError(f"size {part!r}: want ROWS:DAYS with at least 1000 rows and 1 day")
        out.append((rows, days))
    return out


def _label(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows >= 1_000_000 and rows % 1_000_000 == 0 else f"{rows // 1000}K"


@dataclass
class SizeResult:
    rows: int
    days: int
    mode: str
    tools: dict[str, list[float]] = field(default_factory=dict)
    endpoints: dict[str, list[float]] = field(default_factory=dict)
    baselines: dict[str, float] = field(default_factory=dict)
    refresh_initial: dict[str, float] = field(default_factory=dict)
    refresh_incremental: dict[str, float] = field(default_factory=dict)
    storage: dict[str, tuple[float, float]] = field(default_factory=dict)  # relation → (bytes/row before, after)


def _generate(settings: Settings, rows: int, days: int, markets: int) -> dict[str, float]:
    """Fill the database; returns the seconds per level of the first refresh (every bucket materialised)."""
    from bench.mcp_latency import _INSERT_SQL
    from db.connection import connect
    from db.maintenance import refresh_aggregates
    from fake_upbit.simulator import MarketSimulator
    from ingest.catalog import store_catalog

    sim = MarketSimulator(markets=markets, seed=7)
    conn = connect(settings, application_name="bench-scale-generate")
    try:
        store_catalog(conn, sim.catalog())
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE bench_codes (n int PRIMARY KEY, code text, base double precision)")
            for n, item in enumerate(sim.catalog()):
                base = 10 ** (1 + (n * 7919 % 50) / 10)
                base = {"KRW-BTC": 140_000_000.0, "KRW-ETH": 5_000_000.0}.get(item["market"], base)
                cur.execute("INSERT INTO bench_codes VALUES (%s, %s, %s)", (n, item["market"], base))
            cur.execute("SELECT now() - interval '2 minutes'")
            end = cur.fetchone()[0]  # type: ignore[index]
        conn.commit()
        step_ms = days * 86_400_000 / (rows // markets)
        started = time.monotonic()
        for lo in range(0, rows, CHUNK):
            hi = min(rows, lo + CHUNK) - 1
            with conn.cursor() as cur:
                cur.execute(
                    _INSERT_SQL, {"lo": lo, "hi": hi, "markets": markets, "total": rows, "step": step_ms, "end": end}
                )
            conn.commit()
            _progress(f"generated {hi + 1:,}/{rows:,} rows ({(hi + 1) / (time.monotonic() - started):,.0f} rows/s)")
        with conn.cursor() as cur:
            cur.execute("DELETE FROM ticker_latest")
            cur.execute(
                "INSERT INTO ticker_latest SELECT DISTINCT ON (code) * FROM ticker_data "
                "WHERE time > %s - interval '1 day' ORDER BY code, time DESC",
                (end,),
            )
            cur.execute("ANALYZE ticker_data")
        conn.commit()
        _progress("refreshing every aggregate level (real refresh_aggregates)")
        levels = refresh_aggregates(conn).levels
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
        return levels
    finally:
        conn.close()


def _one_more_minute(settings: Settings) -> dict[str, float]:
    """Every market trades once more now; the incremental refresh a live system runs each minute, per level."""
    from db.connection import connect
    from db.maintenance import refresh_aggregates

    conn = connect(settings, application_name="bench-scale-refresh")
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO ticker_data (time, code, msg_id, trade_price, trade_volume, trade_timestamp, ask_bid, "
                "acc_trade_volume) SELECT date_trunc('minute', now()) - interval '1 minute' + random() * "
                "interval '50 seconds', code, gen_random_uuid(), trade_price, 1, 0, 'BID', 1e9 FROM ticker_latest"
            )
        conn.commit()
        return refresh_aggregates(conn).levels
    finally:
        conn.close()


def _storage(settings: Settings, mode: str) -> dict[str, tuple[float, float]]:
    """Bytes per row of ticks and 1-minute candles; TimescaleDB: compress as the policies would, before/after."""
    from db.connection import connect

    conn = connect(settings, application_name="bench-scale-storage")
    conn.autocommit = True
    out: dict[str, tuple[float, float]] = {}
    try:
        with conn.cursor() as cur:
            if mode != "timescaledb":
                for rel, store in (("ticker_data", "ticker_data"), ("ohlcv_1m", "ohlcv_1m_store")):
                    cur.execute(f"SELECT pg_total_relation_size('{store}'), (SELECT count(*) FROM {store})")  # noqa: S608
                    size, count = cur.fetchone()  # type: ignore[misc]
                    out[rel] = (size / max(count, 1), size / max(count, 1))
                return out
            targets = [("ticker_data", "ticker_data")]
            for view in ("ohlcv_1m", "ohlcv_5m_fills", "ohlcv_1h_fills"):
                cur.execute(
                    "SELECT format('%%I.%%I', materialization_hypertable_schema, materialization_hypertable_name) "
                    "FROM timescaledb_information.continuous_aggregates WHERE view_name = %s",
                    (view,),
                )
                targets.append((view, cur.fetchone()[0]))  # type: ignore[index]
            for name, rel in targets:
                cur.execute(f"SELECT count(*) FROM {rel}")  # noqa: S608 - names from the catalog
                count = cur.fetchone()[0]  # type: ignore[index]
                newest = "interval '1 day'" if name == "ticker_data" else "interval '0 days'"
                cur.execute(
                    f"SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks(%s::regclass, "  # noqa: S608
                    f"older_than => now() - {newest}) c",
                    (rel,),
                )
                cur.execute(
                    "SELECT sum(CASE WHEN s.compression_status = 'Compressed' THEN s.before_compression_total_bytes "
                    "ELSE d.total_bytes END), sum(CASE WHEN s.compression_status = 'Compressed' "
                    "THEN s.after_compression_total_bytes ELSE d.total_bytes END) "
                    "FROM chunks_detailed_size(%s::regclass) d LEFT JOIN chunk_compression_stats(%s::regclass) s "
                    "USING (chunk_schema, chunk_name)",
                    (rel, rel),
                )
                before, after = (float(v or 0) for v in cur.fetchone())  # type: ignore[union-attr]
                out[name] = (before / max(count, 1), after / max(count, 1))
            cur.execute("VACUUM ANALYZE")
    finally:
        conn.close()
    return out


def _timed(fn: Callable[[], Any], calls: int) -> list[float]:
    for _ in range(3):
        fn()
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def _time_tools(settings: Settings, calls: int) -> dict[str, list[float]]:
    from mcp import Client

    from upbit_mcp.server import build_server

    out: dict[str, list[float]] = {}
    async with Client(build_server(settings)) as client:
        for name, args in CALLS:
            label = name + ("" if not args else " " + ",".join(f"{k}={v}" for k, v in args.items()))
            for _ in range(3):
                result = await client.call_tool(name, args)
                if result.is_error:
                    first = result.content[0] if result.content else None
                    raise RuntimeError(f"{label} failed: {getattr(first, 'text', '')}")
            samples = []
            for _ in range(calls):
                t0 = time.perf_counter()
                await client.call_tool(name, args)
                samples.append((time.perf_counter() - t0) * 1000)
            out[label] = samples
    return out


def _time_endpoints(settings: Settings, calls: int) -> dict[str, list[float]]:
    import httpx

    from bench.dashboard import _Server
    from dashboard.app import build_app

    bs = settings.model_copy(update={"web_refresh_seconds": 0.5})
    token = bs.web_token.get_secret_value()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    server = _Server(build_app(bs))
    out: dict[str, list[float]] = {}
    try:
        with httpx.Client(base_url=server.url, timeout=60, headers=headers) as client:
            for name, path in ENDPOINTS:
                out[name] = _timed(lambda p=path: client.get(p).raise_for_status(), calls)  # type: ignore[misc]
    finally:
        server.stop()
    return out


def _time_baselines(settings: Settings, calls: int) -> dict[str, float]:
    from db.connection import connect

    conn = connect(settings, application_name="bench-scale-baseline")
    conn.autocommit = True
    out: dict[str, float] = {}
    try:
        with conn.cursor() as cur:
            for name, sql in BASELINES:

                def query(q: str = sql) -> None:
                    cur.execute(q)
                    cur.fetchall()

                out[name] = percentile(_timed(query, max(3, calls // 5)), 95)
    finally:
        conn.close()
    return out


def _rows_present(settings: Settings) -> int:
    from bench.mcp_latency import _rows_present as present

    return present(settings)


def measure(settings: Settings, rows: int, days: int, *, markets: int, calls: int, regenerate: bool) -> SizeResult:
    from db.connection import connect
    from db.maintenance import refresh_aggregates
    from db.migrate import current_mode, migrate

    bs = settings.model_copy(
        update={"timescaledb_dbname": f"{settings.timescaledb_dbname}_bench_scale_{_label(rows).lower()}_{days}d"}
    )
    migrate(bs)
    conn = connect(bs)
    mode = current_mode(conn) or "postgres"
    conn.close()
    result = SizeResult(rows=rows, days=days, mode=mode)
    present = _rows_present(bs)
    if regenerate or present < rows * 0.95:
        from db.connection import drop_database

        if present:
            drop_database(bs, bs.timescaledb_dbname)
            migrate(bs)
        _progress(f"{bs.timescaledb_dbname} ({mode}): generating {rows:,} ticks over {days} days, {markets} markets")
        started = time.monotonic()
        result.refresh_initial = _generate(bs, rows, days, markets)
        _progress(f"generated and refreshed in {time.monotonic() - started:.0f}s")
        result.storage = _storage(bs, mode)
    else:
        _progress(f"{bs.timescaledb_dbname}: reusing ~{present:,} rows (--regenerate to rebuild)")
        conn = connect(bs)
        refresh_aggregates(conn)
        conn.close()
        result.storage = _storage(bs, mode)
    result.refresh_incremental = _one_more_minute(bs)
    result.baselines = _time_baselines(bs, calls)
    result.tools = asyncio.run(_time_tools(bs, calls))
    result.endpoints = _time_endpoints(bs, calls)
    for label, samples in {**result.tools, **result.endpoints}.items():
        _progress(
            f"{_label(rows)}/{days}d {label}: p50 {percentile(samples, 50):.1f} p95 {percentile(samples, 95):.1f} ms"
        )
    return result


def growth(sizes: list[float], values: list[float]) -> tuple[float, str]:
    """Least-squares exponent b of value ~ size^b on log-log, and its name (flat / log / linear)."""
    if len(sizes) < 2:
        return 0.0, "n/a (one size)"
    xs = [math.log(s) for s in sizes]
    ys = [math.log(max(v, 1e-3)) for v in values]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0
    name = "flat" if b < 0.1 else ("log" if b < 0.5 else "linear")
    return b, name + ("" if len(sizes) > 2 else " (2-point estimate)")


def figures_from(results: list[SizeResult]) -> list[BenchFigure]:
    figures: list[BenchFigure] = []
    largest = results[-1]
    sizes = [float(r.rows) for r in results]
    base_name, base_values = next(iter(largest.baselines.items()), ("", 0.0))
    raw_growth = growth(sizes, [r.baselines.get(base_name, 0.0) for r in results]) if base_name else (0.0, "")
    for kind, attr in (("mcp", "tools"), ("dashboard", "endpoints")):
        for label, samples in getattr(largest, attr).items():
            p95 = percentile(samples, 95)
            b, name = growth(sizes, [percentile(getattr(r, attr)[label], 95) for r in results])
            per_size = ", ".join(
                f"{_label(r.rows)}/{r.days}d p50 {percentile(getattr(r, attr)[label], 50):.1f} "
                f"p95 {percentile(getattr(r, attr)[label], 95):.1f}"
                for r in results
            )
            baseline = _matching_baseline(label, largest.baselines)
            figures.append(
                BenchFigure(
                    area="scale",
                    name=f"{kind} {label} p95 @{_label(largest.rows)}",
                    value=round(p95, 1),
                    unit="ms",
                    goal=f"<= {GOAL_P95_MS:.0f}",
                    met=p95 <= GOAL_P95_MS,
                    baseline_name=baseline[0],
                    baseline_value=round(baseline[1], 1) if baseline[0] else None,
                    note=f"{per_size} ms; growth {name} (b={b:.2f}); {largest.mode}",
                )
            )
    for name, (before, after) in largest.storage.items():
        figures.append(
            BenchFigure(
                area="scale",
                name=f"{name} bytes/row after compression",
                value=round(after, 1),
                unit="B",
                baseline_name="uncompressed",
                baseline_value=round(before, 1),
                note=f"ratio {before / after:.1f}x @{_label(largest.rows)}/{largest.days}d ({largest.mode})"
                if after
                else "",
            )
        )
    for r in results:
        for level, seconds in r.refresh_initial.items():
            figures.append(BenchFigure("scale", f"refresh {level} full @{_label(r.rows)}", round(seconds, 2), "s"))
        for level, seconds in r.refresh_incremental.items():
            figures.append(
                BenchFigure("scale", f"refresh {level} one minute @{_label(r.rows)}", round(seconds * 1000, 1), "ms")
            )
    if base_name:
        figures.append(
            BenchFigure(
                "scale",
                f"baseline {base_name} @{_label(largest.rows)}",
                round(largest.baselines[base_name], 1),
                "ms",
                note=f"growth {raw_growth[1]} (b={raw_growth[0]:.2f})",
            )  # fmt: skip
        )
    return figures


def _matching_baseline(label: str, baselines: dict[str, float]) -> tuple[str, float]:
    """The raw-table query that answers the same question as this tool or endpoint."""
    names = list(baselines)
    if "candles" in label:
        return names[0], baselines[names[0]]
    if "coin" in label:
        return names[1], baselines[names[1]]
    return names[2], baselines[names[2]]


def run(
    settings: Settings,
    *,
    sizes: str | None = None,
    markets: int = 160,
    calls: int = 30,
    regenerate: bool = False,
    quick: bool = False,
    **_: Any,
) -> list[BenchFigure]:
    chosen = parse_sizes(sizes or (QUICK_SIZES if quick else DEFAULT_SIZES))
    if quick:
        calls = min(calls, 15)
    results = [
        measure(settings, rows, days, markets=markets, calls=calls, regenerate=regenerate) for rows, days in chosen
    ]
    return figures_from(results)


def main(argv: list[str] | None = None) -> int:
    from upbit_core.logging_setup import configure_logging
    from upbit_core.settings import get_settings

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="ROWS:DAYS,... e.g. 1M:30,10M:365")
    parser.add_argument("--markets", type=int, default=160)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    figures = run(
        get_settings(), sizes=args.sizes, markets=args.markets, calls=args.calls, regenerate=args.regenerate,
        quick=args.quick,
    )  # fmt: skip
    for f in figures:
        base = f" | {f.baseline_name} {f.baseline_value}" if f.baseline_name else ""
        sys.stdout.write(f"{f.name:62} {f.value:>10} {f.unit:3} {f.goal:6} {f.note}{base}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
