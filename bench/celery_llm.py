"""Celery/LLM figures: context tokens per summary versus raw tickers, summary/Q&A latency, verification speed, cost/day.

Fills a dedicated database (`<TIMESCALEDB_DBNAME>_bench_llm`, recreated each run) from the simulator, then
measures in the same run:
- tokens of the summary context (offline Claude BPE) versus the raw tickers it replaces (latest message of every
  market, and the full 5-minute stream), the baseline;
- latency of produce_summary offline and through the local Messages API stand-in (real SDK, real HTTP);
- claim-verification time per answer; estimated cost per summary and per day at the default model's prices.

    python -m bench.celery_llm [--markets 160] [--seconds 600]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from bench.common import BenchFigure
from db.connection import drop_database
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

AREA = "llm"


def _progress(text: str) -> None:
    print(f"[bench llm] {text}", file=sys.stderr, flush=True)


def _prepare(settings: Settings, markets: int, seconds: float) -> tuple[Settings, list[dict[str, Any]]]:
    from db.connection import connect, ensure_database
    from db.maintenance import refresh_aggregates
    from db.migrate import migrate
    from fake_upbit.simulator import MarketSimulator
    from ingest.catalog import store_catalog
    from ingest.writer import write_messages

    # These figures do not depend on the storage mode; plain PostgreSQL unless TimescaleDB is required explicitly.
    mode = "on" if settings.timescaledb_mode == "on" else "off"
    bs = settings.model_copy(
        update={"timescaledb_dbname": settings.timescaledb_dbname + "_bench_llm", "timescaledb_mode": mode}
    )
    drop_database(bs)  # a fresh database each run: a few minutes of data are cheap, stale schemas are not
    ensure_database(bs)
    migrate(bs)
    sim = MarketSimulator(markets=markets, seed=11, start_ms=int(time.time() * 1000 - seconds * 1000), rate=100)
    messages = list(sim.messages(seconds))
    _progress(f"database {bs.timescaledb_dbname}: loading {len(messages):,} simulated tickers for {markets} markets")
    conn = connect(bs)
    try:
        with conn.cursor() as cur:
            cur.execute("TRUNCATE ticker_data, ticker_latest, llm_calls, llm_results RESTART IDENTITY CASCADE")
        conn.commit()
        store_catalog(conn, sim.catalog())
        write_messages(conn, messages)
        refresh_aggregates(conn)
    finally:
        conn.close()
    return bs, messages


def run(
    settings: Settings, *, markets: int = 160, seconds: float = 600, quick: bool = False, **_: Any
) -> list[BenchFigure]:
    from analytics.tokens import count_tokens
    from llm.summary import produce_summary
    from llm.verify import verify
    from upbit_core.settings import PROJECT_ROOT

    if str(PROJECT_ROOT) not in sys.path:  # the Messages API stand-in lives with the tests (repository checkout)
        sys.path.insert(0, str(PROJECT_ROOT))
    from tests.support.fake_anthropic import FakeAnthropic

    if quick:
        markets, seconds = min(markets, 60), min(seconds, 300)
    bs, messages = _prepare(settings, markets, seconds)
    figures: list[BenchFigure] = []

    # Raw baselines: the newest message of every market, and the whole last 5 minutes of the stream.
    latest: dict[str, dict[str, Any]] = {}
    for m in messages:
        latest[m["code"]] = m
    snapshot_tokens = count_tokens(json.dumps(list(latest.values()), ensure_ascii=False))
    horizon = max(m["trade_timestamp"] for m in messages) - 300_000
    window = [m for m in messages if m["trade_timestamp"] >= horizon]
    sample = window[:: max(1, len(window) // 400)]
    per_message = count_tokens(json.dumps(sample, ensure_ascii=False)) / max(1, len(sample))
    stream_tokens = per_message * len(window)

    # Offline summaries: one per window, timed.
    base = datetime.now(UTC)
    offline_ms: list[float] = []
    context_tokens = 0
    for i in range(5):
        started = time.perf_counter()
        outcome = produce_summary(bs, now=base + timedelta(seconds=300 * i))
        offline_ms.append((time.perf_counter() - started) * 1000)
        context_tokens = int(outcome.result["context_tokens"])
    figures.append(
        BenchFigure(
            AREA,
            "summary context tokens",
            context_tokens,
            "tokens",
            goal=f"<= {settings.llm_max_context_tokens}",
            met=context_tokens <= settings.llm_max_context_tokens,
            baseline_name="latest raw ticker of every market",
            baseline_value=snapshot_tokens,
            note=f"{markets} markets; raw 5-minute stream ≈ {stream_tokens:,.0f} tokens",
        )
    )
    figures.append(
        BenchFigure(
            AREA,
            "summary context vs raw 5-min stream",
            context_tokens / stream_tokens * 100,
            "%",
            note=f"{len(window):,} messages in the last 5 minutes",
        )
    )
    figures.append(
        BenchFigure(
            AREA,
            "offline summary p50",
            statistics.median(offline_ms),
            "ms",
            goal="< 1000",
            met=statistics.median(offline_ms) < 1000,
        )
    )

    # Through the Messages API stand-in with the real SDK.
    online_ms: list[float] = []
    usage_in = usage_out = 0
    cost = 0.0
    with FakeAnthropic(min_cacheable_tokens=4096) as fake:  # Haiku 4.5's caching floor, as the real API
        online = bs.model_copy(update={"anthropic_api_key": SecretStr("sk-bench"), "anthropic_base_url": fake.url})
        for i in range(5, 11):
            started = time.perf_counter()
            outcome = produce_summary(online, now=base + timedelta(seconds=300 * i))
            online_ms.append((time.perf_counter() - started) * 1000)
            usage_in, usage_out = int(outcome.result["input_tokens"]), int(outcome.result["output_tokens"])
            cost = float(outcome.result["cost_usd"])
    figures.append(
        BenchFigure(
            AREA,
            "summary via stand-in p50",
            statistics.median(online_ms[1:]),
            "ms",
            note=f"real SDK + HTTP + DB, Claude's own latency excluded; first call {online_ms[0]:,.0f} ms (SDK import)",
        )
    )
    figures.append(
        BenchFigure(
            AREA,
            "summary input tokens (per call)",
            usage_in,
            "tokens",
            note=f"output {usage_out} tokens (stand-in copies context lines)",
        )
    )
    figures.append(
        BenchFigure(
            AREA,
            "est. cost per day at 5-min summaries",
            cost * 288,
            "USD",
            note=f"{settings.anthropic_model}: ${cost:.6f} per summary, 288 per day",
        )
    )

    # Claim verification speed on a realistic answer (the context lines read back as an answer).
    context = outcome.result["context"]["text"] if outcome else ""
    answer = " ".join(context.splitlines()[:6])
    started = time.perf_counter()
    rounds = 200
    for _round in range(rounds):
        verify(answer, context)
    per_check = (time.perf_counter() - started) / rounds * 1000
    figures.append(BenchFigure(AREA, "claim verification per answer", per_check, "ms", goal="< 20", met=per_check < 20))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markets", type=int, default=160)
    parser.add_argument("--seconds", type=float, default=600)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for f in run(Settings(), markets=args.markets, seconds=args.seconds):
        ratio = f" (baseline {f.baseline_name}: {f.baseline_value:,.0f}; ratio {f.ratio:.3f})" if f.ratio else ""
        met = "" if f.met is None else (" OK" if f.met else " MISSED")
        print(f"{f.name}: {f.value:,.3f} {f.unit} {f.goal}{met}{ratio} {f.note}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
