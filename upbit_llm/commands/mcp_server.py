"""Run the MCP server over stdio (Claude Desktop / Claude Code) or streamable HTTP (127.0.0.1 unless MCP_TOKEN)."""

from __future__ import annotations

from upbit_mcp.launch import add_arguments, run

__all__ = ["add_arguments", "run"]
