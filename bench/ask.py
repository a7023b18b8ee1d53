"""`ask` benchmark: offline answer latency, and tokens and cost per question with Claude tool use (the real SDK
against the Messages-API stand-in, which plays a model calling the tools the router would pick, then answering).

Data: `<TIMESCALEDB_DBNAME>_bench_ask` filled by bench.realistic (160 simulated markets, open anomalies, summaries).
Token counts come from the stand-in, which counts with the offline Claude BPE: an estimate of the real API's.

    python -m bench.ask
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from typing import Any

from pydantic import SecretStr

from bench.common import BenchFigure, percentile
from upbit_core.settings import Settings

AREA = "ask"
QUESTIONS = [
    "지금 제일 많이 오른 코인 뭐야?",
    "오늘 가장 많이 떨어진 코인은?",
    "거래대금 제일 많은 코인 알려줘",
    "요즘 핫한 코인 뭐 있어?",
    "최근 1시간 동안 제일 많이 오른 코인",
    "시장 분위기 어때?",
    "what's the market doing right now?",
    "최근 1시간 이상거래 있었어?",
    "anything unusual in the last 30 minutes?",
    "도지 1시간 동안 어땠어?",
    "how did ETH do over the last 2 hours",
    "비트 어때",
    "W코인 지금 어때?",
    "비트랑 이더 어때?",
    "compare solana and ethereum",
    "솔라나 사도 돼?",
    "should I buy ETH?",
    "top gainers in the last hour",
    "most traded coins by value",
    "리플 지난 하루 추이",
]


def _plan(tool_calls: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(c["name"], dict(c["arguments"])) for c in tool_calls]


def run(settings: Settings, *, quick: bool = False) -> list[BenchFigure]:
    from analytics import tools as registry
    from bench.realistic import fill_realistic
    from db.migrate import migrate
    from llm.ask import CACHE_MINIMUM_TOKENS, SYSTEM, ask, request_tokens
    from llm.pricing import cost_usd
    from llm.usage import Usage
    from upbit_core.settings import PROJECT_ROOT

    if str(PROJECT_ROOT) not in sys.path:  # the Messages API stand-in lives with the tests (repository checkout)
        sys.path.insert(0, str(PROJECT_ROOT))
    from tests.support.fake_anthropic import FakeAnthropic, Scripted, tool_results

    bs = settings.model_copy(
        update={"timescaledb_dbname": f"{settings.timescaledb_dbname}_bench_ask", "anthropic_api_key": SecretStr("")}
    )
    migrate(bs)
    print(f"[bench ask] filling {bs.timescaledb_dbname}", file=sys.stderr)
    fill = fill_realistic(bs, markets=160, minutes=20 if quick else 45)
    data = f"{fill.markets} simulated markets, {fill.rows:,} ticks, {fill.anomalies_open} open anomalies"

    offline_ms: list[float] = []
    plans: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for q in QUESTIONS:
        r = ask(bs, q)
        offline_ms.append(float(r.latency_ms or 0))
        plans[q] = _plan(r.tool_calls)
    figures = [
        BenchFigure(
            AREA,
            "offline answer p95",
            percentile(offline_ms, 95),
            "ms",
            goal="<= 500",
            met=percentile(offline_ms, 95) <= 500,
            note=f"p50 {statistics.median(offline_ms):.0f} ms over {len(QUESTIONS)} questions (uncached; router + "
            f"tools + text + number check + store); load average {os.getloadavg()[0]:.1f}; {data}",
        )
    ]

    def answer(body: dict[str, Any]) -> str:
        return " ".join(r.splitlines()[0] for r in tool_results(body) if r)

    tokens: list[int] = []
    biggest: list[int] = []
    costs: list[float] = []
    own_ms: list[float] = []
    rounds: list[int] = []
    grounded = 0
    with FakeAnthropic(min_cacheable_tokens=CACHE_MINIMUM_TOKENS) as fake:
        online = bs.model_copy(update={"anthropic_api_key": SecretStr("sk-bench"), "anthropic_base_url": fake.url})
        for q in QUESTIONS:
            fake.enqueue(Scripted.tool_use(*plans[q]), Scripted.answer(answer))
            r = ask(online, q)
            tokens.append(r.input_tokens)
            biggest.append(r.max_request_input_tokens)
            costs.append(r.cost_usd)
            own_ms.append(float((r.latency_ms or 0) - (r.model_latency_ms or 0)))
            rounds.append(r.rounds)
            grounded += int(r.grounded)
    prefix = request_tokens([{"type": "text", "text": SYSTEM["ko"]}], registry.claude_tools(), [])
    model = settings.anthropic_model
    per_question_cost = statistics.median(costs)
    list_price = float(cost_usd(model, Usage(input_tokens=int(statistics.median(tokens)), output_tokens=150)))
    figures += [
        BenchFigure(
            AREA,
            "input tokens per question (median)",
            statistics.median(tokens),
            "tokens",
            note=f"p95 {percentile([float(t) for t in tokens], 95):,.0f}; all requests of a question summed "
            f"(system + tool definitions + messages each round); stand-in counts = estimate (offline tokenizer)",
        ),
        BenchFigure(
            AREA,
            "largest request per question (p95)",
            percentile([float(b) for b in biggest], 95),
            "tokens",
            goal="<= 4000",
            met=max(biggest) <= 4000,
            note=f"median {statistics.median(biggest):,.0f}; the per-request budget LLM_ASK_MAX_INPUT_TOKENS",
        ),
        BenchFigure(
            AREA,
            "cost per question (median)",
            per_question_cost,
            "USD",
            note=f"{model} list prices; p95 ${percentile(costs, 95):.5f}; ≈ ${list_price:.5f} with 150 output "
            f"tokens; {grounded}/{len(QUESTIONS)} grounded; rounds median {statistics.median(rounds):.0f}",
        ),
        BenchFigure(
            AREA,
            "time per question excl. the model (p95)",
            percentile(own_ms[1:], 95),
            "ms",
            note=f"p50 {statistics.median(own_ms[1:]):.0f} ms: SDK + HTTP + tools + number check + store; first "
            f"question {own_ms[0]:,.0f} ms (SDK import), left out",
        ),
        BenchFigure(
            AREA,
            "cacheable prefix (system + tool definitions)",
            prefix,
            "tokens",
            note=f"below the {CACHE_MINIMUM_TOKENS:,}-token minimum for {model}: marked for caching, billed as "
            "plain input until it grows past the floor",
        ),
    ]
    return figures


def main(argv: list[str] | None = None) -> int:
    from upbit_core.logging_setup import configure_logging
    from upbit_core.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    figures = run(get_settings())
    if args.json:
        print(json.dumps([f.as_dict() for f in figures], ensure_ascii=False, indent=2))
        return 0
    for f in figures:
        print(f"{f.name:46} {f.value:>12,.5g} {f.unit:7} {f.goal or '-':8} {f.note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
