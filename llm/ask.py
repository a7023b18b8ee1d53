"""Ask anything about the market: one entry point for every door (CLI, Celery `ask` task, dashboard, MCP prompt).

With a key, Claude answers through tool use over the registry's tools (analytics.tools, the same definitions the
MCP server serves): at most MAX_TOOL_ROUNDS rounds, every request's input within `LLM_ASK_MAX_INPUT_TOKENS`
(system + tool definitions + messages, counted before sending), tool results in their compact budgeted text.
Without a key the offline intent router (llm.intent) picks the tools and llm.ask_text writes the answer. Either
way the numbers are checked against the tool results (llm.grounding), and an identical question within the same
minute of data is answered from storage.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Final, Literal

import psycopg2.extensions

from analytics import tools as registry
from analytics.catalog import load_catalog
from analytics.context import fmt_time
from analytics.freshness import freshness
from analytics.models import CoinBrief
from analytics.resolver import find_coins, resolve
from analytics.tokens import count_tokens
from db.connection import connect
from llm import ask_text, offline
from llm.intent import Intent, about_a_coin, classify, language_of
from llm.pricing import OFFLINE_MODEL, cost_usd
from llm.qa import _clarify, _ref, answer_question
from llm.store import CallRecord, fetch_result, insert_result, link_calls, record_call, window_lock
from llm.usage import LLMError, Usage
from llm.verify import verify
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

KIND: Final = "ask"
MAX_TOOL_ROUNDS: Final = 3
MAX_QUESTION_CHARS: Final = 500
# Haiku 4.5 caches only prefixes of at least this many tokens; below it the cache marker is free but unused.
CACHE_MINIMUM_TOKENS: Final = 4096

Status = Literal["answered", "ambiguous", "not_found", "no_data", "invalid", "stopped"]

# The rules for answering with the tools live with the tools (MCP's ask_market prompt uses them too).
SYSTEM = registry.ASK_RULES


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    text_tokens: int
    is_error: bool = False
    round: int = 0


@dataclass
class AskResult:
    status: Status
    question: str
    text: str
    intent: str = "unknown"
    language: str = "ko"
    markets: list[str] = field(default_factory=list)
    window: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    as_of: str | None = None
    model: str | None = None
    offline: bool = True
    grounded: bool = True
    grounding_issues: list[dict[str, Any]] = field(default_factory=list)
    rounds: int = 0
    stop_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    max_request_input_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: int | None = None
    model_latency_ms: int | None = None
    context_tokens: int | None = None
    result_id: int | None = None
    cached: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cache_key(language: str, question: str, as_of_minute: str, model: str) -> str:
    """Same question (normalised), same language, same minute of data, same answerer → the stored answer."""
    norm = " ".join(question.lower().split())
    return hashlib.sha256(f"{language}|{norm}|{as_of_minute}|{model}".encode()).hexdigest()[:40]


def _data_minute(conn: psycopg2.extensions.connection) -> str | None:
    with conn.cursor() as cur:
        cur.execute("SELECT date_trunc('minute', max(time)) FROM ticker_latest")
        row = cur.fetchone()
    return row[0].isoformat() if row and row[0] else None


# ----------------------------------------------------------------------------------------------- offline router
def _run(conn: psycopg2.extensions.connection, calls: list[ToolCall], name: str, **args: Any) -> registry.ToolOutput:
    out = registry.get(name).call(conn, args)
    calls.append(ToolCall(name, {k: v for k, v in args.items() if v is not None}, out.text_tokens))
    return out


def _candle_plan(minutes: int) -> tuple[str, int]:
    """Interval and count so a span is covered by at most ~24 candles (the text stays small)."""
    if minutes <= 24:
        return "1m", max(1, minutes)
    if minutes <= 120:
        return "5m", max(1, minutes // 5)
    return "1h", max(1, min(168, minutes // 60))


def answer_offline(
    conn: psycopg2.extensions.connection, intent: Intent
) -> tuple[str, list[ToolCall], list[str], str | None]:
    """(text, tool calls, tool result texts, as-of) for an intent the router found."""
    calls: list[ToolCall] = []
    lang = intent.language
    if intent.kind == "movers":
        out = _run(
            conn, calls, "top_movers", window=intent.window or "24h", direction=intent.direction, limit=intent.limit
        )
        as_of = out.structured("x")["as_of"]
        return ask_text.movers(intent, out.data, as_of), calls, [out.text], as_of
    if intent.kind == "mood" or (intent.kind == "advice" and not intent.markets):
        out = _run(conn, calls, "market_overview")
        as_of = out.structured("x")["as_of"]
        text = ask_text.mood(intent, out.data, as_of)
        if intent.kind == "advice":
            text += "\n" + ask_text.NOT_ADVICE[lang]
        return text, calls, [out.text], as_of
    if intent.kind == "anomalies":
        coin = intent.markets[0] if intent.markets else None
        status = "all" if intent.minutes else "open"
        out = _run(conn, calls, "anomalies", coin=coin, status=status, since_minutes=intent.minutes, limit=10)
        as_of = out.structured("x")["as_of"]
        return ask_text.anomalies(intent, out.data, as_of), calls, [out.text], as_of
    if intent.kind == "history":
        market = intent.markets[0]
        interval, limit = _candle_plan(intent.minutes or 60)
        out = _run(conn, calls, "candles", coin=market, interval=interval, limit=limit)
        brief = _run(conn, calls, "coin_brief", coin=market)
        as_of = out.structured("x")["as_of"]
        name = str(brief.data.get("ref", {}).get("korean_name", ""))
        text = ask_text.history(intent, market, name, out.data.get("rows", []), as_of)
        change = {1: ("1분", "1m"), 5: ("5분", "5m"), 60: ("1시간", "1h")}.get(intent.minutes or 0)
        if change and brief.data.get(f"change_{change[1]}_pct") is not None:
            pct = ask_text.fmt_pct(brief.data[f"change_{change[1]}_pct"])
            text += f" {change[0]} 변동률 {pct}." if lang == "ko" else f" {change[1]} change {pct}."
        return text, calls, [out.text, brief.text], as_of
    # coin, compare, advice with coins: the coin briefs
    briefs = []
    texts = []
    for market in intent.markets[:5]:
        out = _run(conn, calls, "coin_brief", coin=market)
        briefs.append(CoinBrief.model_validate(out.data))
        texts.append(out.text)
    as_of = max((fmt_time(b.freshness.as_of) for b in briefs if b.freshness.as_of), default=None)
    text = offline.coin_answer(briefs, lang)
    if intent.kind == "advice":
        text += "\n" + ask_text.NOT_ADVICE[lang]
    as_iso = max((b.freshness.as_of.isoformat() for b in briefs if b.freshness.as_of), default=None)
    return text, calls, texts, as_iso or as_of


# ----------------------------------------------------------------------------------------------- Claude tool use
@dataclass
class LoopOutcome:
    text: str
    calls: list[ToolCall]
    contexts: list[str]
    rounds: int
    stop_reason: str
    usage: Usage
    cost: Decimal
    model: str
    model_latency_ms: int
    max_request_tokens: int
    call_ids: list[int]


def request_tokens(system: list[dict[str, Any]], tools: list[dict[str, Any]], messages: list[dict[str, Any]]) -> int:
    """The input of one request by the offline Claude BPE (system + tool definitions + messages)."""
    return (
        count_tokens(json.dumps(system, ensure_ascii=False))
        + count_tokens(json.dumps(tools, ensure_ascii=False))
        + count_tokens(json.dumps(messages, ensure_ascii=False))
    )


def _block_dict(block: Any) -> dict[str, Any]:
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    return dict(block.model_dump(mode="json", exclude_none=True))


def tool_loop(
    settings: Settings,
    conn: psycopg2.extensions.connection,
    question: str,
    language: str,
    *,
    client: Any,
    window_key: str,
) -> LoopOutcome:
    """Claude with the registry's tools: ≤ MAX_TOOL_ROUNDS rounds, each request ≤ the input-token budget."""
    import anthropic

    from llm.claude import _describe, is_transient

    budget = settings.llm_ask_max_input_tokens
    system = [{"type": "text", "text": SYSTEM.get(language, SYSTEM["en"]), "cache_control": {"type": "ephemeral"}}]
    tools = registry.claude_tools()
    tools[-1] = {**tools[-1], "cache_control": {"type": "ephemeral"}}  # caches system + tools once they qualify
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    calls: list[ToolCall] = []
    contexts: list[str] = []
    usage = Usage()
    cost = Decimal(0)
    model_ms = 0
    biggest = 0
    rounds = 0
    call_ids: list[int] = []
    model = settings.anthropic_model
    while True:
        planned = request_tokens(system, tools, messages)
        if planned > budget:
            return LoopOutcome(
                _stopped(language, "budget", contexts, planned, budget),
                calls,
                contexts,
                rounds,
                "input_budget",
                usage,
                cost,
                model,
                model_ms,
                biggest,
                call_ids,
            )
        biggest = max(biggest, planned)
        started = time.monotonic()
        try:
            message = client.messages.create(
                model=settings.anthropic_model,
                max_tokens=settings.llm_max_output_tokens,
                system=system,
                tools=tools,
                messages=messages,
            )
        except anthropic.APIStatusError as exc:
            record_call(conn, _call_record(settings, window_key, language, Usage(), None, rounds + 1, str(exc)))
            raise LLMError(_describe(exc), transient=is_transient(exc), status=exc.status_code) from exc
        except anthropic.APIConnectionError as exc:
            raise LLMError(f"cannot reach the Claude API ({type(exc).__name__})", transient=True) from exc
        elapsed = int((time.monotonic() - started) * 1000)
        model_ms += elapsed
        u = message.usage
        step = Usage(
            u.input_tokens or 0,
            u.output_tokens or 0,
            u.cache_creation_input_tokens or 0,
            u.cache_read_input_tokens or 0,
        )
        usage += step
        model = message.model or model
        step_cost = cost_usd(model, step)
        cost += step_cost
        call_ids.append(record_call(conn, _call_record(settings, window_key, language, step, step_cost, rounds + 1)))
        uses = [b for b in message.content if b.type == "tool_use"]
        text = "".join(b.text for b in message.content if b.type == "text").strip()
        if message.stop_reason != "tool_use" or not uses:
            return LoopOutcome(
                text, calls, contexts, rounds, "answered", usage, cost, model, model_ms, biggest, call_ids
            )
        if rounds >= MAX_TOOL_ROUNDS:
            return LoopOutcome(
                _stopped(language, "rounds", contexts, planned, budget),
                calls,
                contexts,
                rounds,
                "round_limit",
                usage,
                cost,
                model,
                model_ms,
                biggest,
                call_ids,
            )
        rounds += 1
        results = []
        for use in uses:
            try:
                out = registry.get(use.name).call(conn, dict(use.input or {}))
                content, is_error = out.text, False
                contexts.append(out.text)
            except (registry.ToolInputError, LookupError, ValueError) as exc:
                content, is_error = str(exc), True
            calls.append(ToolCall(use.name, dict(use.input or {}), count_tokens(content), is_error, rounds))
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": use.id, "content": content}
            if is_error:
                result["is_error"] = True
            results.append(result)
        messages.append({"role": "assistant", "content": [_block_dict(b) for b in message.content]})
        messages.append({"role": "user", "content": results})


def _stopped(language: str, why: str, contexts: list[str], planned: int, budget: int) -> str:
    facts = "\n".join(contexts[-2:])
    if language == "ko":
        reason = (
            f"도구 호출이 {MAX_TOOL_ROUNDS}라운드 한도에 도달해 중단했습니다."
            if why == "rounds"
            else f"다음 요청이 입력 토큰 예산 {budget:,}을 넘어({planned:,}) 중단했습니다."
        )
        return reason + (" 지금까지 확인한 사실:\n" + facts if facts else " 질문을 더 좁혀 주세요.")
    reason = (
        f"Stopped: the model reached the limit of {MAX_TOOL_ROUNDS} tool rounds."
        if why == "rounds"
        else f"Stopped: the next request ({planned:,} tokens) would exceed the input budget of {budget:,} tokens."
    )
    return reason + (" Facts gathered so far:\n" + facts if facts else " Please ask a narrower question.")


def _call_record(
    settings: Settings,
    window_key: str,
    language: str,
    usage: Usage,
    cost: Decimal | None,
    attempt: int,
    error: str | None = None,
) -> CallRecord:
    return CallRecord(
        task_kind=KIND,
        model=settings.anthropic_model,
        offline=False,
        status="error" if error else "ok",
        usage=usage,
        cost_usd=cost or Decimal(0),
        latency_ms=None,
        attempt=attempt,
        window_key=window_key,
        language=language,
        error=error,
    )


# ----------------------------------------------------------------------------------------------- the entry point
def ask(settings: Settings, question: str, *, client: Any = None, market: str | None = None) -> AskResult:
    """Answer any market question. Never raises on user input; Claude failures raise LLMError.

    `market` (a code) scopes a question that names no coin, e.g. one asked on that coin's dashboard page.
    """
    started = time.monotonic()
    question = (question or "").strip()
    lang = language_of(question) if question else settings.report_language
    if not question:
        return AskResult("invalid", question, "질문이 비어 있습니다." if lang == "ko" else "The question is empty.")
    if len(question) > MAX_QUESTION_CHARS:
        return AskResult("invalid", question[:80], f"question longer than {MAX_QUESTION_CHARS} characters; shorten it")
    conn = connect(settings, application_name="upbit-llm-ask")
    conn.autocommit = True
    with conn.cursor() as cur:
        # Like the MCP reader role: JIT compiling the tools' short queries costs up to a second each, saves nothing.
        cur.execute("SET jit = off")
    try:
        if not load_catalog(conn).refs:
            res = resolve(conn, question)
            return AskResult("not_found", question, _clarify(lang, "not_found", [], res.message), language=lang)
        markets = [m.market for m in find_coins(conn, question)][:5]
        if market and about_a_coin(question, markets) and load_catalog(conn).get(market) is not None:
            question = f"{market} {question}"
            markets = [market]
        intent = classify(question, markets)
        base = {"intent": intent.kind, "language": lang, "markets": markets, "window": intent.window}
        if intent.kind in ("coin", "compare") and not settings.has_anthropic_key:
            # Offline, coin questions stay with the coin Q&A flow (its storage, its cost rows, its clarifications).
            return _coin_answer(settings, question, intent, started)
        if intent.kind == "unknown" and not settings.has_anthropic_key:  # Claude resolves names with search_markets
            res = resolve(conn, question)
            if res.status == "found" and res.market is not None:
                intent = classify(question, [res.market.market])
                markets = intent.markets
                base.update(intent=intent.kind, markets=markets, window=intent.window)
            else:
                alts = res.candidates if res.status == "ambiguous" else res.suggestions
                status: Status = "ambiguous" if res.status == "ambiguous" else "not_found"
                return AskResult(
                    status,
                    question,
                    _clarify(lang, status, alts, res.message),
                    candidates=[_ref(r) for r in alts],
                    **base,  # type: ignore[arg-type]
                )
        minute = _data_minute(conn)
        if minute is None:
            text = (
                "아직 시세 데이터가 없습니다. `upbit-llm ingest`와 `upbit-llm consume`을 먼저 실행하세요."
                if lang == "ko"
                else "No ticker data yet: run `upbit-llm ingest` and `upbit-llm consume` first."
            )
            return AskResult("no_data", question, text, **base)  # type: ignore[arg-type]
        answerer = settings.anthropic_model if settings.has_anthropic_key else OFFLINE_MODEL
        key = cache_key(lang, question, minute, answerer)
        row = fetch_result(conn, KIND, key)
        if row is not None:
            return _from_row(row, question, cached=True, started=started)
        conn.autocommit = False
        with window_lock(conn, KIND, key):
            row = fetch_result(conn, KIND, key)
            if row is None:
                row = _produce(settings, conn, question, intent, key, client)
                conn.commit()
        return _from_row(row, question, cached=False, started=started)
    except LookupError as exc:
        return AskResult("not_found", question, str(exc), language=lang)
    finally:
        conn.close()


def _coin_answer(settings: Settings, question: str, intent: Intent, started: float) -> AskResult:
    answer = answer_question(settings.model_copy(update={"report_language": intent.language}), question)
    data = answer.as_dict()
    calls = [{"name": "coin_brief", "arguments": {"coin": m}, "text_tokens": None} for m in answer.markets]
    return AskResult(
        **{k: v for k, v in data.items() if k in AskResult.__dataclass_fields__ and k != "latency_ms"},
        intent=intent.kind,
        language=intent.language,
        window=intent.window,
        tool_calls=calls,
        rounds=1 if answer.status == "answered" else 0,
        latency_ms=int((time.monotonic() - started) * 1000),
    )


def _produce(
    settings: Settings,
    conn: psycopg2.extensions.connection,
    question: str,
    intent: Intent,
    key: str,
    client: Any,
) -> dict[str, Any]:
    lang = intent.language
    if settings.has_anthropic_key:
        from llm import claude

        outcome = tool_loop(
            settings, conn, question, lang, client=client or claude.build_client(settings), window_key=key
        )
        text, calls, contexts = outcome.text, outcome.calls, outcome.contexts
        usage, cost, model, offline_flag = outcome.usage, outcome.cost, outcome.model, False
        rounds, stop, model_ms, biggest = (
            outcome.rounds,
            outcome.stop_reason,
            outcome.model_latency_ms,
            outcome.max_request_tokens,
        )
        call_ids = outcome.call_ids
        as_of = None
    else:
        t0 = time.monotonic()
        text, calls, contexts, as_of = answer_offline(conn, intent)
        usage, cost, model, offline_flag = Usage(), Decimal(0), OFFLINE_MODEL, True
        rounds, stop, model_ms, biggest = 1, "answered", 0, 0
        call_ids = [
            record_call(
                conn,
                CallRecord(
                    KIND,
                    OFFLINE_MODEL,
                    True,
                    "ok",
                    Usage(),
                    Decimal(0),
                    int((time.monotonic() - t0) * 1000),
                    1,
                    key,
                    lang,
                    count_tokens("\n".join(contexts)),
                ),
            )
        ]
    context_text = "\n".join(contexts)
    # The claim verifier (the flows' entry point) runs over the tool results: every figure must be one a tool returned.
    report = verify(text, context_text, question=question)
    if not report.ok:
        log.warning("ask answer not grounded issues=%s", report.describe())
    latest = freshness(conn).as_of if as_of is None else None
    fresh_as_of = as_of or (latest.isoformat() if latest else None)
    payload = {
        "intent": intent.as_dict(),
        "tool_calls": [asdict(c) for c in calls],
        "rounds": rounds,
        "stop_reason": stop,
        "model_latency_ms": model_ms,
        "max_request_input_tokens": biggest,
        "cache_read_tokens": usage.cache_read_tokens,
    }
    result_id, _ = insert_result(
        conn,
        {
            "kind": KIND,
            "window_key": key,
            "as_of": fresh_as_of,
            "language": lang,
            "model": model,
            "offline": offline_flag,
            "question": question,
            "markets": intent.markets,
            "context": {"text": context_text},
            "context_tokens": count_tokens(context_text),
            "text": text,
            "payload": payload,
            "grounded": report.ok,
            "grounding_issues": report.as_list(),
            "input_tokens": usage.input_tokens + usage.cache_read_tokens + usage.cache_creation_tokens,
            "output_tokens": usage.output_tokens,
            "cost_usd": cost,
            "latency_ms": model_ms or None,
        },
    )
    link_calls(conn, call_ids, result_id)
    row = fetch_result(conn, KIND, key)
    assert row is not None
    return row


def _from_row(row: dict[str, Any], question: str, *, cached: bool, started: float) -> AskResult:
    payload = row.get("payload") or {}
    intent = payload.get("intent") or {}
    status: Status = "stopped" if payload.get("stop_reason") in ("round_limit", "input_budget") else "answered"
    return AskResult(
        status=status,
        question=question,
        text=row["text"],
        intent=str(intent.get("kind", "unknown")),
        language=str(row.get("language") or intent.get("language") or "ko"),
        markets=list(row.get("markets") or []),
        window=intent.get("window"),
        tool_calls=list(payload.get("tool_calls") or []),
        as_of=fmt_time(row["as_of"]),
        model=row["model"],
        offline=bool(row["offline"]),
        grounded=bool(row["grounded"]),
        grounding_issues=list(row.get("grounding_issues") or []),
        rounds=int(payload.get("rounds") or 0),
        stop_reason=payload.get("stop_reason"),
        input_tokens=int(row.get("input_tokens") or 0),
        output_tokens=int(row.get("output_tokens") or 0),
        max_request_input_tokens=int(payload.get("max_request_input_tokens") or 0),
        cache_read_tokens=int(payload.get("cache_read_tokens") or 0),
        cost_usd=float(row.get("cost_usd") or 0),
        latency_ms=int((time.monotonic() - started) * 1000),
        model_latency_ms=payload.get("model_latency_ms"),
        result_id=int(row["id"]),
        cached=cached,
    )
