"""`python -m upbit_mcp` is the same server entry as `upbit-llm mcp`, without importing the CLI above it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MCP_TOKEN"} | {"MCP_TOKEN": ""}
    return subprocess.run(
        [sys.executable, "-m", "upbit_mcp", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_python_m_upbit_mcp_takes_the_same_flags_as_upbit_llm_mcp() -> None:
    out = _run("--help")
    assert out.returncode == 0
    for flag in ("--transport", "--host", "--port"):
        assert flag in out.stdout


def test_python_m_upbit_mcp_refuses_to_bind_off_loopback_without_a_token() -> None:
    out = _run("--transport", "http", "--host", "0.0.0.0", "--port", "1")
    assert out.returncode == 2
    assert "MCP_TOKEN" in out.stderr and "refusing" in out.stderr
