"""What an MCP client receives, measured through the official SDK client over stdio: the tool definitions a model is
shown, the whole tools/list, and each tool's text content and structured content at default arguments.

Counts are exact when an Anthropic key is set (the Messages API `count_tokens` endpoint, asked the way a model meets
the text: tool definitions as `tools`, a result as a `tool_result` block, each minus the same request without it);
otherwise they come from the offline Claude BPE and are labelled "estimate (offline tokenizer)".
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from analytics import tools as registry
from analytics.tokens import count_tokens, tokenizer_name
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS_BUDGET = 1_500
EXACT = "exact (Anthropic count_tokens API)"
ESTIMATE = "estimate (offline tokenizer)"


class ToolText(BaseModel):
    name: str
    arguments: dict[str, Any]
    text_tokens: int = Field(description="tokens of the text content (what Claude Desktop hands the model)")
    budget: int
    within_budget: bool
    text_bytes: int
    structured_bytes: int = Field(description="bytes of structuredContent as JSON (0 when the server sends none)")
    structured_tokens: int = Field(description="tokens of JSON(structuredContent), what Claude Code hands a model")
    is_error: bool = False
    saving_pct: float | None = Field(default=None, description="percent fewer tokens than the raw tickers")


class ClientReport(BaseModel):
    counting: str = Field(description=f"'{EXACT}' or '{ESTIMATE}'")
    exact: bool
    tokenizer: str
    transport: str = "stdio, official MCP SDK client"
    structured_content: bool = Field(description="whether the server sends structuredContent")
    tool_definitions_tokens: int = Field(description="name + description + input schema of every tool")
    tool_definitions_budget: int = DEFINITIONS_BUDGET
    tool_definitions_bytes: int
    tools_list_tokens: int = Field(description="the whole tools/list result (with output schemas, annotations)")
    tools_list_bytes: int
    tools: list[ToolText]
    within_budget: bool


def server_env(settings: Settings) -> dict[str, str]:
    """Environment for a child `upbit-llm mcp` pointing at the same database as `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIMESCALEDB_", "READONLY_", "MCP_"))}
    env.update(
        {
            "TIMESCALEDB_DBNAME": settings.timescaledb_dbname,
            "TIMESCALEDB_HOST": settings.timescaledb_host,
            "TIMESCALEDB_PORT": str(settings.timescaledb_port),
            "TIMESCALEDB_USER": settings.timescaledb_user,
            "TIMESCALEDB_PASSWORD": settings.timescaledb_password.get_secret_value(),
            "TIMESCALEDB_MODE": settings.timescaledb_mode,
            "READONLY_USER": settings.readonly_user,
            "READONLY_PASSWORD": settings.readonly_password.get_secret_value(),
            "MCP_STRUCTURED_CONTENT": "true" if settings.mcp_structured_content else "false",
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def default_calls(focus: str) -> list[tuple[str, dict[str, Any]]]:
    """Every tool at default arguments; required ones get the market's focus coin (or the tool's example)."""
    calls = []
    for tool in registry.REGISTRY.values():
        args = dict(tool.examples)
        if "coin" in args:
            args["coin"] = focus
        calls.append((tool.name, args))
    return calls


async def collect(client: Any, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """tools/list and each call's text and structured content, as the client received them."""
    listed = await client.list_tools()
    definitions = [
        {"name": t.name, "description": t.description or "", "input_schema": t.input_schema} for t in listed.tools
    ]
    results = []
    for name, args in calls:
        r = await client.call_tool(name, args)
        text = "".join(getattr(c, "text", "") for c in r.content)
        results.append(
            {
                "name": name,
                "arguments": args,
                "text": text,
                "structured": r.structured_content,
                "is_error": bool(r.is_error),
            }
        )
    return {
        "definitions": definitions,
        "tools_list": listed.model_dump(mode="json", by_alias=True, exclude_none=True),
        "results": results,
    }


def collect_over_stdio(settings: Settings, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    import anyio
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "upbit_llm", "mcp", "--transport", "stdio"],
        env=server_env(settings),
        cwd=str(ROOT),
    )

    async def main() -> dict[str, Any]:
        # The child's stderr (its start-up line, warnings) is not part of what the client receives.
        with open(os.devnull, "w") as quiet:
            async with Client(stdio_client(params, errlog=quiet)) as client:
                return await collect(client, calls)

    return anyio.run(main)


class Counter:
    """Counts tokens the way a model meets each thing: exact through count_tokens when a key is set."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._client: Any = None
        self._model = ""
        if settings is not None and settings.has_anthropic_key:
            import anthropic

            kwargs: dict[str, Any] = {
                "api_key": settings.anthropic_api_key.get_secret_value(),
                "timeout": 20.0,
                "max_retries": 2,
            }
            if settings.anthropic_base_url:
                kwargs["base_url"] = settings.anthropic_base_url
            self._client = anthropic.Anthropic(**kwargs)
            self._model = settings.anthropic_model

    @property
    def exact(self) -> bool:
        return self._client is not None

    @property
    def label(self) -> str:
        return EXACT if self.exact else ESTIMATE

    def _api(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
        kwargs: dict[str, Any] = {"model": self._model, "messages": messages}
        if tools:
            kwargs["tools"] = tools
        return int(self._client.messages.count_tokens(**kwargs).input_tokens)

    def definitions(self, definitions: list[dict[str, Any]]) -> int:
        if not self.exact:
            return count_tokens(json.dumps(definitions, ensure_ascii=False))
        question = [{"role": "user", "content": "hi"}]
        return self._api(question, definitions) - self._api(question)

    def tool_result(self, name: str, arguments: dict[str, Any], text: str) -> int:
        if not self.exact:
            return count_tokens(text)

        def convo(content: str) -> list[dict[str, Any]]:
            return [
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_1", "name": name, "input": arguments}],
                },
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": content}]},
            ]

        return self._api(convo(text or ".")) - self._api(convo("."))

    def text(self, text: str) -> int:
        if not self.exact:
            return count_tokens(text)
        return self._api([{"role": "user", "content": text}]) - self._api([{"role": "user", "content": "."}])


def report(
    received: dict[str, Any], counter: Counter, *, raw_tokens: int | None = None, structured: bool = True
) -> ClientReport:
    defs = received["definitions"]
    defs_json = json.dumps(defs, ensure_ascii=False)
    listed_json = json.dumps(received["tools_list"], ensure_ascii=False)
    sizes = []
    for r in received["results"]:
        tool = registry.REGISTRY.get(r["name"])
        budget = tool.budget if tool else registry.TEXT_BUDGET
        n = counter.tool_result(r["name"], r["arguments"], r["text"])
        sjson = json.dumps(r["structured"], ensure_ascii=False) if r["structured"] is not None else ""
        sizes.append(
            ToolText(
                name=r["name"],
                arguments=r["arguments"],
                text_tokens=n,
                budget=budget,
                within_budget=n <= budget and not r["is_error"],
                text_bytes=len(r["text"].encode()),
                structured_bytes=len(sjson.encode()),
                structured_tokens=count_tokens(sjson) if sjson else 0,
                is_error=r["is_error"],
                saving_pct=round((1 - n / raw_tokens) * 100, 2) if raw_tokens else None,
            )
        )
    defs_tokens = counter.definitions(defs)
    return ClientReport(
        counting=counter.label,
        exact=counter.exact,
        tokenizer="Anthropic count_tokens" if counter.exact else tokenizer_name(),
        structured_content=structured,
        tool_definitions_tokens=defs_tokens,
        tool_definitions_bytes=len(defs_json.encode()),
        tools_list_tokens=counter.text(listed_json),
        tools_list_bytes=len(listed_json.encode()),
        tools=sizes,
        within_budget=defs_tokens <= DEFINITIONS_BUDGET and all(s.within_budget for s in sizes),
    )


def measure_client(
    settings: Settings, focus: str, *, raw_tokens: int | None = None, counter: Counter | None = None
) -> ClientReport:
    """Start `upbit-llm mcp --transport stdio` on `settings`' database and measure what the SDK client receives."""
    received = collect_over_stdio(settings, default_calls(focus))
    return report(
        received, counter or Counter(settings), raw_tokens=raw_tokens, structured=settings.mcp_structured_content
    )
