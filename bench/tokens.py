"""Token benchmark: what an MCP client receives (tool definitions, tools/list, each tool's text content; the official
SDK client over stdio) next to the raw latest tickers as JSON, on a realistic 160-market database.

The database (`<TIMESCALEDB_DBNAME>_bench_tokens`) is filled by bench.realistic: the ingest team's simulator through
the consumer's writer, the anomaly scan, open anomalies and stored summaries. Counts are exact with an Anthropic key
(count_tokens) and labelled "estimate (offline tokenizer)" otherwise. The baseline, measured in the same run, is
the raw JSON.

    python -m bench.tokens [--markets 160]
"""

from __future__ import annotations

import argparse
import sys

from bench.common import BenchFigure
from upbit_core.settings import Settings


def run(settings: Settings, *, markets: int = 160, minutes: int = 75, quick: bool = False) -> list[BenchFigure]:
    from analytics.savings import measure
    from bench.realistic import fill_realistic
    from db.connection import connect
    from db.migrate import migrate
    from upbit_mcp.measure import measure_client

    bs = settings.model_copy(update={"timescaledb_dbname": f"{settings.timescaledb_dbname}_bench_tokens"})
    migrate(bs)
    print(f"[bench tokens] filling {bs.timescaledb_dbname} with {markets} simulated markets", file=sys.stderr)
    fill = fill_realistic(bs, markets=markets, minutes=15 if quick else minutes)
    conn = connect(bs, application_name="bench-tokens")
    try:
        raw = measure(conn)
    finally:
        conn.close()
    client = measure_client(bs, raw.focus or "KRW-BTC", raw_tokens=raw.raw_tokens)
    data = (
        f"{raw.markets} simulated markets, {fill.rows:,} ticks over {minutes if not quick else 15} min, "
        f"{fill.anomalies_open} open anomalies, {fill.summaries} stored LLM results"
    )
    figures = [
        BenchFigure(
            area="tokens",
            name="raw latest tickers (JSON)",
            value=raw.raw_tokens,
            unit="tokens",
            goal=">= 40000",
            met=raw.raw_tokens >= 40_000,
            note=f"{raw.raw_bytes:,} bytes; {data}; {raw.counting}",
        ),
        BenchFigure(
            area="tokens",
            name="tool definitions (name+description+input schema)",
            value=client.tool_definitions_tokens,
            unit="tokens",
            goal=f"<= {client.tool_definitions_budget}",
            met=client.tool_definitions_tokens <= client.tool_definitions_budget,
            note=f"{len(client.tools)} tools; whole tools/list {client.tools_list_tokens:,} tokens; {client.counting}",
        ),
    ]
    for t in client.tools:
        args = ",".join(f"{k}={v}" for k, v in t.arguments.items())
        figures.append(
            BenchFigure(
                area="tokens",
                name=f"{t.name}{' ' + args if args else ''} text content",
                value=t.text_tokens,
                unit="tokens",
                goal=f"<= {t.budget}",
                met=t.within_budget,
                baseline_name="raw latest tickers",
                baseline_value=raw.raw_tokens,
                note=f"structured {t.structured_bytes:,} bytes (~{t.structured_tokens:,} tokens as JSON); "
                f"{client.counting}; SDK client over stdio",
            )
        )
    overview = client.tools[0]
    figures.append(
        BenchFigure(
            area="tokens",
            name="market_overview saving",
            value=overview.saving_pct or 0.0,
            unit="%",
            goal=">= 99",
            met=(overview.saving_pct or 0) >= 99 and raw.markets >= 150,
            note=f"text content {overview.text_tokens} tokens vs raw {raw.raw_tokens:,}",
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
