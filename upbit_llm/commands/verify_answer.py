"""Check an answer against the context it was written from, claim by claim: each figure's coin, kind, window, unit
and direction must match a context fact (or a supported derivation), e.g.
upbit-llm verify-answer --context ctx.txt --answer answer.txt --question "비트코인 1억 갈까?" --json

Exit status: 0 when every claim is verified, 1 when some are not, 2 when a file cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from upbit_core.settings import Settings
from upbit_llm.output import print_json, print_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--context", required=True, help="the CONTEXT text the model was given (a file, - for stdin)")
    parser.add_argument("--answer", required=True, help="the answer to check (a file, - for stdin)")
    parser.add_argument("--question", default=None, help="the user's question (its numbers are not evidence)")
    parser.add_argument("--json", action="store_true", help="grounded, claims[...], issues[...] as JSON")


def _read(path: str, label: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the {label} file {path!r}: {exc}") from exc


def run(args: argparse.Namespace, settings: Settings) -> int:
    from llm.verify import verify

    del settings
    if args.context == "-" and args.answer == "-":
        print("verify-answer: only one of --context and --answer can be read from stdin", file=sys.stderr)
        return 2
    try:
        context = _read(args.context, "context")
        answer = _read(args.answer, "answer")
    except ValueError as exc:
        print(f"verify-answer: {exc}", file=sys.stderr)
        return 2
    report = verify(answer, context, question=args.question)
    if args.json:
        print_json(report.as_dict())
        return 0 if report.ok else 1
    rows = []
    for c in report.checked:
        d = c.as_dict()
        fact = d["matched_fact"]
        evidence = f"{fact['text']} [{fact['id']}]" if fact else (c.derived or "")
        rows.append(
            {
                "claim": d["text"],
                "entity": str(d["entity"] or "-"),
                "kind": str(d["kind"] or "-"),
                "window": str(d["window"] or "-"),
                "verdict": "ok" if not c.issue else "NOT VERIFIED",
                "evidence": c.issue or evidence,
            }
        )
    if rows:
        print_table(rows, ["claim", "entity", "kind", "window", "verdict", "evidence"])
    else:
        print("no figures, times or dates to check")
    print("\nall figures verified" if report.ok else f"\n{len(report.issues)} claim(s) not verified")
    return 0 if report.ok else 1
