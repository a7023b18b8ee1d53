"""Token savings benchmark: raw latest tickers (JSON) vs each compact context on a simulated 160-market database.

The database (`<TIMESCALEDB_DBNAME>_bench_tokens`) is filled with the ingest team's simulator through the consumer's
own writer (15 minutes of event time), then analytics.savings.measure counts tokens with the offline Claude BPE.
The baseline measured in the same run is the raw JSON.

    python -m bench.tokens [--markets 160]
"""

from __future__ import annotations

import argparse
import sys
import time

from bench.common import BenchFigure
from upbit_core.settings import Settings


def _fill(settings: Settings, markets: int, minutes: int) -> None:
    from db.connection import connect
    from db.maintenance import refresh_aggregates
    from fake_upbit.simulator import MarketSimulator
    from ingest.catalog import store_catalog
    from ingest.writer import write_messages

    sim = MarketSimulator(markets=markets, seed=11, start_ms=int(time.time() * 1000) - minutes * 60_000, rate=10.0)
    conn = connect(settings, application_name="bench-tokens")
    try:
        with conn.cursor() as cur:
            cur.execute("TRUNCATE ticker_data, ticker_latest")
        conn.commit()
        store_catalog(conn, sim.catalog())
        write_messages(conn, sim.messages(minutes * 60))
        refresh_aggregates(conn)
    finally:
        conn.close()


def run(settings: Settings, *, markets: int = 160, minutes: int = 15, quick: bool = False) -> list[BenchFigure]:
    from analytics.savings import measure
    from db.connection import connect
    from db.migrate import migrate

    bs = settings.model_copy(update={"timescaledb_dbname": f"{settings.timescaledb_dbname}_bench_tokens"})
    migrate(bs)
    print(f"[bench tokens] filling {bs.timescaledb_dbname} with {markets} simulated markets", file=sys.stderr)
    _fill(bs, markets, 5 if quick else minutes)
    conn = connect(bs, application_name="bench-tokens")
    try:
        report = measure(conn)
    finally:
        conn.close()
    figures = [
        BenchFigure(
            area="tokens",
            name="raw latest tickers (JSON)",
            value=report.raw_tokens,
            unit="tokens",
            goal=">= 40000",
            met=report.raw_tokens >= 40_000,
            note=f"{report.markets} markets, {report.raw_bytes:,} bytes, {report.tokenizer}",
        )
    ]
    for c in report.contexts:
        figures.append(
            BenchFigure(
                area="tokens",
                name=c.name,
                value=c.tokens,
                unit="tokens",
                goal=f"<= {c.budget}" if c.budget else "",
                met=c.within_budget,
                baseline_name="raw latest tickers",
                baseline_value=report.raw_tokens,
                note=f"saving {c.saving_pct:.2f}%" if c.saving_pct is not None else "",
            )
        )
    overview = report.contexts[0]
    figures.append(
        BenchFigure(
            area="tokens",
            name="market_overview saving",
            value=overview.saving_pct or 0.0,
            unit="%",
            goal=">= 99",
            met=report.goal_met,
            note=f"overview {overview.tokens} tokens vs raw {report.raw_tokens}",
        )
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    from upbit_core.logging_setup import configure_logging
    from upbit_core.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=160)
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    for f in run(get_settings(), markets=args.markets):
        met = {True: "met", False: "NOT met", None: "-"}[f.met]
        print(f"{f.name:34} {f.value:>10,.2f} {f.unit:7} goal {f.goal or '-':9} {met:8} {f.note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
