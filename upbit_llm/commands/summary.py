"""Produce the market summary of the current window now and print it (Claude, or the offline analyst without a key).

The summary is stored in llm_results once per window: running the command twice in one window prints the stored
summary the second time ("exists").
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from upbit_core.settings import Settings
from upbit_llm.output import print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the stored summary as JSON")
    parser.add_argument("--language", choices=["ko", "en"], help="override REPORT_LANGUAGE")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from db.connection import DatabaseUnavailable
    from llm.summary import NoMarketData, produce_summary
    from llm.usage import LLMError

    if args.language:
        settings = settings.model_copy(update={"report_language": args.language})
    if not settings.has_anthropic_key and not args.json:
        print("ANTHROPIC_API_KEY is not set: the offline analyst writes this summary", file=sys.stderr)
    try:
        outcome = produce_summary(settings)
    except NoMarketData as exc:
        print(f"summary: {exc}", file=sys.stderr)
        return 1
    except DatabaseUnavailable as exc:
        print(f"summary: {exc}", file=sys.stderr)
        return 1
    except LLMError as exc:
        print(f"summary: {exc}", file=sys.stderr)
        return 1
    data = outcome.as_dict()
    if args.json:
        print_json(data)
        return 0
    if not data["grounded"]:
        print("⚠️ 수치 미검증 · numbers not verified")
    print(data["text"])
    print()
    flag = "" if data["grounded"] else "  [NUMBERS NOT VERIFIED: "
    if not data["grounded"]:
        flag += ", ".join(i.get("text", "?") for i in data["grounding_issues"]) + "]"
    print(
        f"as of {_utc(data['as_of'])} · window {data['window_key']} · {data['model']} · "
        f"{data['input_tokens']} in / {data['output_tokens']} out tokens · ${data['cost_usd']:.6f} · "
        f"context {data['context_tokens']} tokens · {outcome.status}{flag}"
    )
    return 0


def _utc(iso: str | None) -> str:
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if iso else "n/a"
