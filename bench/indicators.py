"""Indicator cost per coin brief: the brief without indicators (the baseline, same run) vs the indicators it adds.

The bench database (`<TIMESCALEDB_DBNAME>_bench_indicators`) holds 21 days of generated ticks (bench.mcp_latency's
`generate`: real ticker_data rows, the real aggregate refresh), so 1h indicators read a full LOOKBACK of 499 closed
hourly candles — SMA/EMA200 included — as a brief does on a live platform. For each of the first `coins` markets,
`reps` times: coin_brief without indicators, brief_indicators alone after a candle closes (cache empty: candles
read + math) and within the hour (cached), the pure math alone on already-read candles, and the whole brief; plus
the tokens the indicator line adds to the brief and the indicators tool's context size.

    python -m bench.indicators [--rows 3000000] [--markets 40] [--coins 10] [--reps 5] [--regenerate]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from bench.common import BenchFigure, percentile
from upbit_core.settings import Settings

DAYS = 21  # > 499 h: the 1h lookback is full
GOAL_BRIEF_P95_MS = 50.0  # the MCP latency goal a coin brief must still meet with its indicator line


def bench_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"timescaledb_dbname": f"{settings.timescaledb_dbname}_bench_indicators"})


def _progress(message: str) -> None:
    print(f"[bench indicators] {message}", file=sys.stderr, flush=True)


def _ms(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return (time.perf_counter() - started) * 1000, out


def run(
    settings: Settings,
    *,
    rows: int = 3_000_000,
    markets: int = 40,
    coins: int = 10,
    reps: int = 5,
    regenerate: bool = False,
    quick: bool = False,
) -> list[BenchFigure]:
    from analytics import indicators as ind
    from analytics.candles import MAX_CANDLES, candles
    from analytics.coin import brief_indicators, coin_brief
    from analytics.freshness import latest_event_time
    from analytics.tokens import count_tokens
    from bench.mcp_latency import _rows_present, generate
    from db.connection import connect
    from db.migrate import migrate

    if quick:
        rows, coins, reps = min(rows, 1_500_000), min(coins, 4), min(reps, 3)
    bs = bench_settings(settings)
    migrate(bs)
    present = _rows_present(bs)
    if regenerate or present < rows * 0.95:
        _progress(f"{bs.timescaledb_dbname}: generating {rows:,} ticks, {markets} markets, {DAYS} days")
        generate(bs, rows, markets, days=DAYS)
    else:
        _progress(f"{bs.timescaledb_dbname}: reusing ~{present:,} ticks (--regenerate to rebuild)")
    present = _rows_present(bs)
    conn = connect(bs, application_name="bench-indicators")
    plain: list[float] = []
    extra: list[float] = []
    cold: list[float] = []
    math_only: list[float] = []
    whole: list[float] = []
    tokens_plain: list[int] = []
    tokens_whole: list[int] = []
    tool_tokens: list[int] = []
    candles_used = 0
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT code FROM ticker_latest ORDER BY code LIMIT %s", (coins,))
            codes = [r[0] for r in cur.fetchall()]
        conn.commit()
        for code in codes:
            coin_brief(conn, code)  # warm the catalog cache and the buffer cache for this market
            for _ in range(reps):
                ms, b0 = _ms(lambda c=code: coin_brief(conn, c, with_indicators=False))
                plain.append(ms)
                ind.clear_cache()  # the first brief after a candle closes reads and computes
                ms, got = _ms(lambda c=code: brief_indicators(conn, c))
                cold.append(ms)
                ms, got = _ms(lambda c=code: brief_indicators(conn, c))  # every other brief until the next close
                extra.append(ms)
                series = candles(conn, code, "1h", MAX_CANDLES)
                bars, filled, _ = ind.prepare(series, clock=latest_event_time(conn)[0])
                ms, _ = _ms(lambda b=bars, f=filled, c=code: ind.compute(c, "1h", b, filled=f))
                math_only.append(ms)
                ms, b1 = _ms(lambda c=code: coin_brief(conn, c))
                whole.append(ms)
                conn.commit()
            tokens_plain.append(count_tokens(b0.to_context()))
            tokens_whole.append(count_tokens(b1.to_context()))
            tool_tokens.append(count_tokens(ind.indicators(conn, code, "1h").to_context()))  # as the MCP tool
            candles_used = got.candles if got else 0
    finally:
        conn.close()
    base_p50 = statistics.median(plain)
    note = (
        f"{len(codes)} coins x {reps}, 1h, {candles_used} candles, {present:,} ticks; machine shared with other teams"
    )
    return [
        BenchFigure(
            area="indicators",
            name="coin brief without indicators p50",
            value=round(base_p50, 2),
            unit="ms",
            note=f"p95 {percentile(plain, 95):.1f} ms (baseline); {note}",
        ),
        BenchFigure(
            area="indicators",
            name="indicators per coin brief p50",
            value=round(statistics.median(extra), 2),
            unit="ms",
            baseline_name="brief without indicators",
            baseline_value=round(base_p50, 2),
            note=f"p95 {percentile(extra, 95):.1f} ms; cached until the next candle closes",
        ),
        BenchFigure(
            area="indicators",
            name="indicators after a candle closes p50",
            value=round(statistics.median(cold), 2),
            unit="ms",
            baseline_name="brief without indicators",
            baseline_value=round(base_p50, 2),
            note=f"p95 {percentile(cold, 95):.1f} ms, per candle close (and every 5 min); math only p50 "
            f"{statistics.median(math_only):.2f} ms",
        ),
        BenchFigure(
            area="indicators",
            name="coin brief with indicators p95",
            value=round(percentile(whole, 95), 2),
            unit="ms",
            goal=f"<= {GOAL_BRIEF_P95_MS:.0f}",
            met=percentile(whole, 95) <= GOAL_BRIEF_P95_MS,
            baseline_name="brief without indicators p95",
            baseline_value=round(percentile(plain, 95), 2),
            note=f"p50 {statistics.median(whole):.1f} ms",
        ),
        BenchFigure(
            area="indicators",
            name="coin brief tokens with indicator line",
            value=max(tokens_whole),
            unit="tokens",
            goal="<= 250",
            met=max(tokens_whole) <= 250,
            baseline_name="without the line",
            baseline_value=max(tokens_plain),
            note=f"mean +{statistics.mean(tokens_whole) - statistics.mean(tokens_plain):.1f} tokens per brief",
        ),
        BenchFigure(
            area="indicators",
            name="indicators tool context",
            value=max(tool_tokens),
            unit="tokens",
            goal="<= 300",
            met=max(tool_tokens) <= 300,
            note="largest over the coins (offline Claude BPE)",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    from upbit_core.logging_setup import configure_logging
    from upbit_core.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--markets", type=int, default=40)
    parser.add_argument("--coins", type=int, default=10)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    figures = run(
        get_settings(),
        rows=args.rows,
        markets=args.markets,
        coins=args.coins,
        reps=args.reps,
        regenerate=args.regenerate,
    )
    for f in figures:
        met = {True: "met", False: "NOT met", None: "-"}[f.met]
        base = f" vs {f.baseline_name} {f.baseline_value}" if f.baseline_name else ""
        print(f"{f.name:38} {f.value:>10,.2f} {f.unit:7} goal {f.goal or '-':7} {met:8}{base}  {f.note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
