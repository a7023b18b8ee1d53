"""Measure tokens: what an MCP client receives (tool definitions, tools/list, each tool's text content, through the
official SDK client over stdio) next to the raw latest tickers as JSON, and the saving.

Counts are exact with ANTHROPIC_API_KEY (the Messages API count_tokens) and labelled "estimate (offline tokenizer)"
otherwise."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from upbit_core.settings import Settings
from upbit_llm.output import print_json, print_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--no-client", action="store_true", help="skip the MCP client measurement (analytics contexts only)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.savings import measure
    from analytics.tokens import count_tokens_api
    from db.connection import DatabaseUnavailable
    from db.readonly import ReadOnlyPool

    api_counter: Callable[[str], int | None] | None = None
    if settings.has_anthropic_key:
        key = settings.anthropic_api_key.get_secret_value()

        def count_with_api(text: str) -> int | None:
            return count_tokens_api(
                text, api_key=key, model=settings.anthropic_model, base_url=settings.anthropic_base_url
            )

        api_counter = count_with_api

    pool = ReadOnlyPool(settings, size=1, application_name="upbit-llm-tokens")
    try:
        report = pool.run_sync(lambda conn: measure(conn, api_counter=api_counter))
    except DatabaseUnavailable as exc:
        print(f"tokens: {exc}", file=sys.stderr)
        return 1
    finally:
        pool.close()
    if api_counter:
        report.counting = "exact (Anthropic count_tokens API) in api_tokens; tokens = estimate (offline tokenizer)"
    if report.markets == 0:
        print("tokens: no tickers in the database yet — run ingest and consume (or `upbit-llm demo`)", file=sys.stderr)
        if not args.json:
            return 1
    client = None
    if report.markets and not args.no_client:
        from upbit_mcp.measure import measure_client

        client = measure_client(settings, report.focus or "KRW-BTC", raw_tokens=report.raw_tokens)
    if args.json:
        print_json({**report.model_dump(mode="json"), "client": client.model_dump(mode="json") if client else None})
        return 0
    if client is not None:
        print(f"what an MCP client receives ({client.transport}); counts: {client.counting}")
        print(
            f"tool definitions (name + description + input schema, {len(client.tools)} tools): "
            f"{client.tool_definitions_tokens:,} tokens (budget {client.tool_definitions_budget:,}); "
            f"whole tools/list {client.tools_list_tokens:,} tokens ({client.tools_list_bytes:,} bytes)"
        )
        print_table(
            [
                {
                    "tool": t.name
                    + (" " + ",".join(f"{k}={v}" for k, v in t.arguments.items()) if t.arguments else ""),
                    "text tokens": t.text_tokens,
                    "budget": t.budget,
                    "within": "yes" if t.within_budget else "NO",
                    "structured bytes": t.structured_bytes,
                    "saving": f"{t.saving_pct:.2f}%" if t.saving_pct is not None else "-",
                }
                for t in client.tools
            ]
        )
        print(f"client budgets: {'met' if client.within_budget else 'NOT met'}\n")
    print("analytics contexts (estimate (offline tokenizer))")
    print(f"tokenizer: {report.tokenizer}" + ("  (+ Anthropic count_tokens API)" if api_counter else ""))
    print(
        f"raw: latest ticker of {report.markets} markets as JSON = {report.raw_tokens:,} tokens "
        f"({report.raw_bytes:,} bytes)"
    )
    rows = [
        {
            "context": c.name,
            "tokens": c.tokens,
            "budget": c.budget if c.budget is not None else "-",
            "within": {True: "yes", False: "NO", None: "-"}[c.within_budget],
            "saving": f"{c.saving_pct:.2f}%" if c.saving_pct is not None else "-",
            **({"api_tokens": c.api_tokens} if api_counter else {}),
        }
        for c in report.contexts
    ]
    print_table(rows)
    verdict = "met" if report.goal_met else "NOT met"
    print(f"goal (>=150 markets, overview <= 500 tokens, raw >= 40K, saving >= 99%): {verdict}")
    return 0
