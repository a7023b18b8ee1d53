"""Market summary: analytics overview + changes since the previous summary → Claude → llm_results, once per window."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from analytics.context import OVERVIEW_BUDGET, fmt_time, short_code
from analytics.models import MarketOverview
from analytics.overview import market_overview
from analytics.tokens import count_tokens
from analytics.units import fmt_krw, fmt_pct, fmt_price
from db.connection import connect
from llm import offline
from llm.generate import generate, store_generation
from llm.store import RESULT_COLUMNS, fetch_result, latest_result, window_lock
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

KIND: Final = "market_summary"
# What CLI --json and task results show of a stored row: every column but the bulky context JSON.
PUBLIC_FIELDS: Final = ("id", *(c for c in RESULT_COLUMNS if c != "context"), "created_at")


class NoMarketData(RuntimeError):
    """There is no ticker data to summarise yet."""


@dataclass
class SummaryOutcome:
    status: Literal["created", "exists"]
    result: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, **public_fields(self.result)}


def summary_window(settings: Settings, now: datetime | None = None) -> tuple[datetime, datetime, str]:
    """The window a run at `now` summarises: the interval ending at the last boundary (UTC-aligned).

    The key names the interval, the window end and the language: one summary per window and language.
    """
    now = now or datetime.now(UTC)
    step = settings.summary_interval_seconds
    epoch = int(now.timestamp())
    end = datetime.fromtimestamp(epoch - epoch % step, tz=UTC)
    start = end - timedelta(seconds=step)
    return start, end, f"{step}s@{end.strftime('%Y-%m-%dT%H:%M:%SZ')}:{settings.report_language}"


def describe_changes(previous: dict[str, Any] | None, current: MarketOverview, lang: str) -> list[str]:
    """What changed since the previous summary's overview, as short lines with the figures of both."""
    if not previous:
        return []
    q = current.quote
    out: list[str] = []
    pb, cb = previous.get("breadth_prev_close") or {}, current.breadth_prev_close
    if pb and (pb.get("up"), pb.get("down")) != (cb.up, cb.down):
        label = "상승/하락 종목" if lang == "ko" else "advancers/decliners"
        out.append(f"{label} {pb.get('up')}/{pb.get('down')} → {cb.up}/{cb.down}")
    for key, line in (("btc", current.btc), ("eth", current.eth)):
        prev_line = previous.get(key) or {}
        if line is not None and prev_line and prev_line.get("change_24h_pct") != line.change_24h_pct:
            out.append(
                f"{key.upper()} {fmt_price(prev_line.get('price'))} {fmt_pct(prev_line.get('change_24h_pct'))} → "
                f"{fmt_price(line.price)} {fmt_pct(line.change_24h_pct)}"
            )
    prev_gainers = [g.get("market") for g in previous.get("gainers") or []]
    now_gainers = [g.market for g in current.gainers]
    entered = [short_code(m, q) for m in now_gainers if m not in prev_gainers]
    left = [short_code(m, q) for m in prev_gainers if m and m not in now_gainers]
    if entered:
        out.append(("상승 상위 새로 진입: " if lang == "ko" else "new among top gainers: ") + ", ".join(entered[:4]))
    if left:
        out.append(("상승 상위에서 빠짐: " if lang == "ko" else "left top gainers: ") + ", ".join(left[:4]))
    prev_ids = {a.get("id") for a in previous.get("open_anomalies") or []}
    now_ids = {a.id for a in current.open_anomalies}
    opened = [a for a in current.open_anomalies if a.id not in prev_ids]
    if opened:
        label = "새 이상 징후" if lang == "ko" else "new anomalies"
        out.append(f"{label}: " + "; ".join(f"{short_code(a.market, q)} {a.kind}" for a in opened[:3]))
    closed = len([i for i in prev_ids if i not in now_ids])
    if closed:
        out.append(("종료된 이상 징후 " if lang == "ko" else "anomalies closed: ") + str(closed))
    pv = previous.get("value_1h_fills_krw")
    if pv is not None and current.value_1h_fills_krw is not None and pv != current.value_1h_fills_krw:
        label = "1시간 거래대금" if lang == "ko" else "1h value traded"
        out.append(f"{label} {fmt_krw(pv)} → {fmt_krw(current.value_1h_fills_krw)}")
    return out


def build_context(settings: Settings, overview: MarketOverview, changes: list[str], prev_as_of: str | None) -> str:
    """The compact context within the hard budget (LLM_MAX_CONTEXT_TOKENS): overview first, then the changes."""
    budget = settings.llm_max_context_tokens
    changes_text = ""
    if changes:
        changes_text = f"CHANGES since previous summary (as of {prev_as_of}):\n" + "\n".join(f"- {c}" for c in changes)
    overview_budget = min(OVERVIEW_BUDGET, max(100, budget - count_tokens(changes_text) - 8))
    text = overview.to_context(budget=overview_budget)
    full = text + ("\n" + changes_text if changes_text else "")
    while count_tokens(full) > budget and "\n" in full:
        full = full.rsplit("\n", 1)[0]  # drop the least important (last) change lines first
    return full


def produce_summary(
    settings: Settings, *, now: datetime | None = None, client: Any = None, quote: str = "KRW"
) -> SummaryOutcome:
    """Produce and store the market summary of the current window; a second run for the window returns the first."""
    start, end, window_key = summary_window(settings, now)
    conn = connect(settings, application_name="upbit-llm-summary")
    try:
        existing = fetch_result(conn, KIND, window_key)
        if existing:
            return SummaryOutcome("exists", existing)
        with window_lock(conn, KIND, window_key):
            existing = fetch_result(conn, KIND, window_key)
            if existing:
                return SummaryOutcome("exists", existing)
            overview = market_overview(conn, quote=quote)  # type: ignore[arg-type]
            conn.commit()
            if overview.freshness.as_of is None:
                raise NoMarketData("no ticker data yet — run `upbit-llm ingest` and `upbit-llm consume` first")
            previous = latest_result(conn, KIND, before=window_key)
            prev_overview = (previous or {}).get("context", {}).get("overview") if previous else None
            prev_as_of = fmt_time(previous["as_of"]) if previous else None
            lang = settings.report_language
            changes = describe_changes(prev_overview, overview, lang)
            context_text = build_context(settings, overview, changes, prev_as_of)
            gen = generate(
                settings,
                conn,
                task=KIND,
                window_key=window_key,
                context_text=context_text,
                offline_text=lambda: offline.summary_text(overview, changes, lang),
                client=client,
            )
            result_id, inserted, row = store_generation(
                conn,
                gen,
                {
                    "kind": KIND,
                    "window_key": window_key,
                    "window_start": start,
                    "window_end": end,
                    "as_of": overview.freshness.as_of,
                    "language": lang,
                    "markets": [],
                    "context": {"text": context_text, "overview": overview.model_dump(mode="json")},
                    "text": gen.text,
                    "payload": {"attempts": gen.attempts, "regenerated": gen.regenerated},
                    "changes": {
                        "previous_id": previous["id"] if previous else None,
                        "previous_as_of": prev_as_of,
                        "items": changes,
                    },
                },
            )
            log.info(
                "summary stored window=%s id=%s inserted=%s model=%s grounded=%s context_tokens=%s cost_usd=%s",
                window_key,
                result_id,
                inserted,
                gen.model,
                gen.grounded,
                gen.context_tokens,
                gen.cost_usd,
            )
            return SummaryOutcome("created" if inserted else "exists", row)
    finally:
        conn.close()


def public_fields(row: dict[str, Any]) -> dict[str, Any]:
    """The stored row without the bulky context JSON (what CLI --json and task results show)."""
    out = {k: row.get(k) for k in PUBLIC_FIELDS if k in row}
    for k, v in list(out.items()):
        if isinstance(v, datetime):
            out[k] = v.isoformat()
        elif k == "cost_usd" and v is not None:
            out[k] = float(v)
    return out
