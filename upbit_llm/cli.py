"""The `upbit-llm` command line: one console script, one subcommand per task.

Each subcommand lives in `upbit_llm/commands/<module>.py` with `add_arguments(parser)` and
`run(args, settings) -> int`. Command modules import heavy dependencies inside `run`, so `--help` stays fast.
The command names and their flags are a contract that users and scripts rely on.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from pydantic import ValidationError

from upbit_core import __version__
from upbit_core.logging_setup import configure_logging
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

# name → (module under upbit_llm.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "migrate": ("migrate", "create or upgrade the database schema (safe to run twice)"),
    "doctor": ("doctor", "check every service and print what is wrong and how to fix it"),
    "services": ("services", "start/stop/status of the local Postgres, Redis and Kafka-protocol broker"),
    "ingest": ("ingest", "stream the Upbit WebSocket (or a recorded file) into Kafka"),
    "consume": ("consume", "write Kafka ticker messages into the database, losslessly"),
    "backfill": ("backfill", "fetch 1-minute candles from Upbit REST (history and gaps), resumable"),
    "fake-upbit": ("fake_upbit", "run the local Upbit-protocol replay server and market simulator"),
    "scan": ("scan", "run one anomaly scan now"),
    "anomalies": ("anomalies", "list detected anomaly events"),
    "summary": ("summary", "produce a market summary now"),
    "ask": ("ask", 'ask Claude about a coin, e.g. upbit-llm ask "W코인 지금 어때?"'),
    "tokens": ("tokens", "measure tokens of raw tickers versus the compact contexts"),
    "costs": ("costs", "report LLM token usage and cost per day and task kind"),
    "verify-answer": ("verify_answer", "check an answer's figures claim by claim against its context"),
    "mcp": ("mcp_server", "run the MCP server (stdio or streamable HTTP)"),
    "web": ("web", "run the web dashboard"),
    "demo": ("demo", "run the whole platform locally with supervised processes"),
    "bench": ("bench", "run the benchmarks and print goals versus measured figures"),
}


def _load(module: str) -> ModuleType:
    return importlib.import_module(f"upbit_llm.commands.{module}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="upbit-llm",
        description="Upbit market data → Kafka → TimescaleDB → Claude. Every subcommand has --help.",
    )
    parser.add_argument("--version", action="version", version=f"upbit-llm {__version__}")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default: LOG_LEVEL or INFO)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        mod = _load(module)
        p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or help_text).strip())
        mod.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"configuration error:\n{exc}\nFix the variables above in the environment or .env.", file=sys.stderr)
        return 2
    configure_logging(args.log_level or settings.log_level)
    module = _load(args._module)
    try:
        code = module.run(args, settings)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
