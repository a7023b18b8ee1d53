"""Report LLM token usage and estimated cost per UTC day and task kind (from llm_calls)."""

from __future__ import annotations

import argparse
import sys

from upbit_core.settings import Settings
from upbit_llm.output import print_json, print_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=7, help="how many UTC days back, today included (default 7)")
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from db.connection import DatabaseUnavailable
    from db.readonly import ReadOnlyPool
    from llm.costs import cost_report

    if args.days < 1:
        print("costs: --days must be at least 1", file=sys.stderr)
        return 2
    pool = ReadOnlyPool(settings, size=1, application_name="upbit-llm-costs")
    try:
        report = pool.run_sync(lambda conn: cost_report(conn, days=args.days))
    except DatabaseUnavailable as exc:
        print(f"costs: {exc}", file=sys.stderr)
        return 1
    finally:
        pool.close()
    if args.json:
        print_json(report.as_dict())
        return 0
    cols = [
        "day",
        "task_kind",
        "calls",
        "errors",
        "offline_calls",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cost_usd",
        "avg_latency_ms",
    ]
    print_table([{c: getattr(r, c) for c in cols} for r in report.rows], cols)
    t = report.totals
    print(
        f"\ntotal {t['calls']} calls ({t['errors']} errors), {t['input_tokens']} in / {t['output_tokens']} out tokens, "
        f"cache write {t['cache_creation_tokens']} / read {t['cache_read_tokens']}, ${t['cost_usd']:.6f} "
        f"over {report.days} day(s)"
    )
    return 0
