"""`python -m upbit_mcp [--transport stdio|http]`: the same as `upbit-llm mcp`."""

import sys

from upbit_llm.cli import main

raise SystemExit(main(["mcp", *sys.argv[1:]]))
