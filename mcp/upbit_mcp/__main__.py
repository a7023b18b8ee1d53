"""`python -m upbit_mcp [--transport stdio|http] [--host H] [--port P]`: the same as `upbit-llm mcp`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from upbit_core.logging_setup import configure_logging
from upbit_core.settings import Settings
from upbit_mcp.launch import add_arguments, run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m upbit_mcp", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"configuration error:\n{exc}\nFix the variables above in the environment or .env.", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    return run(args, settings)


if __name__ == "__main__":
    raise SystemExit(main())
