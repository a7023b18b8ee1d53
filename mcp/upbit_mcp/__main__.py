"""`python -m upbit_mcp` = `upbit-llm mcp` (stdio by default)."""

from upbit_llm.cli import main

raise SystemExit(main(["mcp", *__import__("sys").argv[1:]]))
