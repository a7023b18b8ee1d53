"""MCP server exposing compact, token-budgeted Upbit market tools to Claude."""
