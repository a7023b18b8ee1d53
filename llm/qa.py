"""Coin Q&A: resolve the coin(s) in a question, build briefs, ask Claude, answer with as-of time and cost."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from analytics.coin import coin_brief
from analytics.context import COIN_BRIEF_BUDGET, fmt_time
from analytics.models import CoinBrief, MarketRef
from analytics.resolver import find_coins, resolve
from db.connection import connect
from llm import indicator_qa, offline
from llm.generate import generate, store_generation
from llm.store import fetch_result, window_lock
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

KIND: Final = "coin_qa"
MAX_COINS = 5
MAX_QUESTION_CHARS = 500

Status = Literal["answered", "ambiguous", "not_found", "no_data", "invalid"]


@dataclass
class Answer:
    status: Status
    question: str
    text: str
    markets: list[str] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)  # ambiguous: which one? not_found: suggestions
    as_of: str | None = None
    model: str | None = None
    offline: bool = False
    grounded: bool = True
    grounding_issues: list[dict[str, Any]] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: int | None = None
    context_tokens: int | None = None
    result_id: int | None = None
    cached: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ref(r: MarketRef) -> dict[str, Any]:
    return {"market": r.market, "korean_name": r.korean_name, "english_name": r.english_name}


def _clarify(lang: str, status: str, refs: list[MarketRef], message: str) -> str:
    names = ", ".join(r.label() for r in refs[:5])
    if status == "ambiguous":
        return f"어느 코인을 말씀하시는지 골라 주세요: {names}" if lang == "ko" else f"Which coin do you mean: {names}?"
    if not names and message and "catalog" in message:
        return message + (" — 카탈로그를 먼저 불러오세요" if lang == "ko" else "")
    if names:
        return (
            f"해당하는 코인을 찾지 못했습니다. 혹시 이 중 하나인가요? {names}"
            if lang == "ko"
            else f"No market matches. Did you mean: {names}?"
        )
    return (
        "질문에서 업비트 코인을 찾지 못했습니다. 코인 이름이나 마켓 코드(예: KRW-BTC)를 넣어 주세요."
        if lang == "ko"
        else "No Upbit coin found in the question; name a coin or a market code such as KRW-BTC."
    )


def window_key(language: str, question: str, markets: list[str], as_of: datetime | None) -> str:
    """Same question, same coins, same data → same key: a repeated question is answered from the stored row."""
    norm = " ".join(question.lower().split())
    raw = "|".join([language, norm, ",".join(markets), as_of.isoformat() if as_of else "-"])
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def answer_question(settings: Settings, question: str, *, client: Any = None) -> Answer:
    """Answer a question about one or more coins. Never raises on user input; Claude failures raise LLMError."""
    lang = settings.report_language
    question = (question or "").strip()
    if not question:
        return Answer("invalid", question, "질문이 비어 있습니다." if lang == "ko" else "The question is empty.")
    if len(question) > MAX_QUESTION_CHARS:
        msg = f"question longer than {MAX_QUESTION_CHARS} characters; shorten it"
        return Answer("invalid", question[:80], msg)
    conn = connect(settings, application_name="upbit-llm-qa")
    try:
        refs = find_coins(conn, question)
        if not refs:
            res = resolve(conn, question)
            if res.status == "found" and res.market is not None:
                refs = [res.market]
            else:
                alts = res.candidates if res.status == "ambiguous" else res.suggestions
                status: Status = "ambiguous" if res.status == "ambiguous" else "not_found"
                return Answer(
                    status, question, _clarify(lang, status, alts, res.message), candidates=[_ref(r) for r in alts]
                )
        conn.commit()
        refs = refs[:MAX_COINS]
        briefs: list[CoinBrief] = []
        missing: list[str] = []
        for r in refs:
            try:
                briefs.append(coin_brief(conn, r.market))
            except LookupError:
                missing.append(r.market)
        conn.commit()
        markets = [b.ref.market for b in briefs]
        if not briefs:
            text = (
                f"{', '.join(missing)}: 아직 시세 데이터가 없습니다."
                if lang == "ko"
                else f"{', '.join(missing)}: no ticker data yet."
            )
            return Answer("no_data", question, text, markets=missing)
        intent = indicator_qa.detect(question)
        ind_sets = indicator_qa.load(conn, briefs, intent) if intent else []
        conn.commit()
        as_of = max((b.freshness.as_of for b in briefs if b.freshness.as_of), default=None)
        key = window_key(lang, question, markets, as_of)
        with window_lock(conn, KIND, key):
            row = fetch_result(conn, KIND, key)
            if row is None:
                per_coin = max(80, min(COIN_BRIEF_BUDGET, settings.llm_max_context_tokens // len(briefs)))
                context_text = "\n\n".join(b.to_context(budget=per_coin) for b in briefs)
                if missing:
                    context_text += "\nno ticker data yet: " + ", ".join(missing)
                # An indicator question gets the full indicator context of the asked interval next to the briefs.
                context_text += "".join("\n\n" + s.to_context() for s in ind_sets)

                def offline_text() -> str:
                    text = offline.coin_answer(briefs, lang)
                    if not intent:
                        return text
                    mark, _, rest = text.partition("\n")
                    extra = indicator_qa.offline_lines(briefs, ind_sets, intent, lang)
                    return "\n".join([mark, *extra, rest])

                gen = generate(
                    settings,
                    conn,
                    task=KIND,
                    window_key=key,
                    context_text=context_text,
                    offline_text=offline_text,
                    question=question,
                    client=client,
                )
                _, _, row = store_generation(
                    conn,
                    gen,
                    {
                        "kind": KIND,
                        "window_key": key,
                        "as_of": as_of,
                        "language": lang,
                        "question": question,
                        "markets": markets,
                        "context": {
                            "text": context_text,
                            "briefs": [b.model_dump(mode="json") for b in briefs],
                            "indicators": [s.model_dump(mode="json") for s in ind_sets],
                        },
                        "text": gen.text,
                        "payload": {"attempts": gen.attempts, "cache_read_tokens": gen.usage.cache_read_tokens},
                    },
                )
                cached = False
            else:
                cached = True
        assert row is not None
        log.info(
            "question answered markets=%s cached=%s model=%s cost_usd=%s",
            markets,
            cached,
            row["model"],
            row["cost_usd"],
        )
        return Answer(
            status="answered",
            question=question,
            text=row["text"],
            markets=list(row["markets"] or markets),
            as_of=fmt_time(row["as_of"]),
            model=row["model"],
            offline=bool(row["offline"]),
            grounded=bool(row["grounded"]),
            grounding_issues=list(row["grounding_issues"] or []),
            input_tokens=int(row["input_tokens"] or 0),
            output_tokens=int(row["output_tokens"] or 0),
            cache_read_tokens=int((row.get("payload") or {}).get("cache_read_tokens") or 0),
            cost_usd=float(row["cost_usd"] or 0),
            latency_ms=row["latency_ms"],
            context_tokens=row["context_tokens"],
            result_id=int(row["id"]),
            cached=cached,
        )
    finally:
        conn.close()
