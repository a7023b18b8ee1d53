"""Ask anything about the market in Korean or English, e.g. upbit-llm ask "W코인 지금 어때?" or "지금 제일 많이 오른
코인 뭐야?" — one coin, a comparison, movers, the market's mood, anomalies, a coin's history, "should I buy".

Coins are resolved from the question; an ambiguous name asks which one, an unknown one suggests the closest. The
answer carries the data's as-of time and the token cost; --json adds intent, markets, window and tool_calls. With
ANTHROPIC_API_KEY Claude answers through tool use; without it the offline intent router does.
"""

from __future__ import annotations

import argparse
import sys

from upbit_core.settings import Settings
from upbit_llm.output import print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("question", help='e.g. "W코인 지금 어때?" or "How are BTC and ETH doing?"')
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--language", choices=["ko", "en"], help="override REPORT_LANGUAGE")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from db.connection import DatabaseUnavailable
    from llm.ask import ask
    from llm.usage import LLMError

    if args.language:
        settings = settings.model_copy(update={"report_language": args.language})
    try:
        answer = ask(settings, args.question)
    except (DatabaseUnavailable, LLMError) as exc:
        print(f"ask: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print_json(answer.as_dict())
        return 0 if answer.status == "answered" else 3
    if answer.status == "answered" and not answer.grounded:
        print("⚠️ 수치 미검증 · numbers not verified")
    print(answer.text)
    if answer.status not in ("answered", "stopped"):
        return 3
    flagged = "" if answer.grounded else "  [NUMBERS NOT VERIFIED: some figures do not match the data]"
    cached = " (stored answer)" if answer.cached else ""
    tools = ", ".join(c["name"] for c in answer.tool_calls) or "-"
    own = (answer.latency_ms or 0) - (answer.model_latency_ms or 0)
    print(
        f"\nas of {answer.as_of} · {answer.model}{cached} · {answer.input_tokens} in / {answer.output_tokens} out "
        f"tokens · ${answer.cost_usd:.6f}{flagged}\nintent {answer.intent} · window {answer.window or '-'} · "
        f"tools {tools} · {answer.rounds} round(s) · {own} ms excl. the model"
    )
    return 0
