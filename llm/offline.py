"""The offline analyst: deterministic summaries, answers and interpretations from the same context, without Claude.

Used when ANTHROPIC_API_KEY is empty. Every figure is printed with the analytics layer's own formatters, so the
text passes the same grounding check as Claude's answers. Every text starts with a marker saying it is offline.
"""

from __future__ import annotations

from typing import Any

from analytics.context import fmt_time, short_code
from analytics.models import CoinBrief, CoinLine, MarketOverview
from analytics.units import fmt_krw, fmt_pct, fmt_price, fmt_ratio, fmt_share

MARK = {"ko": "[오프라인 분석 · Claude 미사용]", "en": "[offline analyst · not Claude]"}


def _coin(line: CoinLine, quote: str, lang: str) -> str:
    name = f" {line.korean_name}" if lang == "ko" and line.korean_name else ""
    return f"{short_code(line.market, quote)}{name} {fmt_pct(line.change_24h_pct)}"


# The market summary's wording per language; one code path (summary_text) fills in the figures.
_SUMMARY_PHRASES: dict[str, dict[str, str]] = {
    "ko": {
        "header": "{mark} {as_of} 기준 업비트 {quote} 마켓 {markets}개",
        "breadth": "- 전일 종가 대비 상승 {up} · 하락 {down} · 보합 {flat}",
        "breadth_5m": "; 5분 상승 {up} · 하락 {down}",
        "breadth_1h": "; 1시간 상승 {up} · 하락 {down}",
        "majors_suffix": " (24시간)",
        "gainers": "- 24시간 상승 상위: ",
        "losers": "- 24시간 하락 상위: ",
        "movers": "- 최근 5분 급변: {movers}",
        "leader": "; 상위 {market}",
        "value": "- 거래대금 24시간 {v24}, 최근 1시간 {v1}{leader}",
        "anomalies": "- 진행 중인 이상 징후 {count}건: {items}",
        "no_anomalies": "- 진행 중인 이상 징후 없음",
        "since": "- 직전 요약 이후: ",
        "no_changes": "첫 요약이거나 큰 변화 없음",
    },
    "en": {
        "header": "{mark} Upbit {quote} market as of {as_of}, {markets} markets",
        "breadth": "- vs previous close up {up}, down {down}, flat {flat}",
        "breadth_5m": "; 5m up {up}/down {down}",
        "breadth_1h": "; 1h up {up}/down {down}",
        "majors_suffix": " (24h)",
        "gainers": "- top gainers 24h: ",
        "losers": "- top losers 24h: ",
        "movers": "- sharpest 5m moves: {movers}",
        "leader": "; leader {market}",
        "value": "- value traded 24h {v24}, last hour {v1}{leader}",
        "anomalies": "- open anomalies {count}: {items}",
        "no_anomalies": "- no open anomalies",
        "since": "- since the previous summary: ",
        "no_changes": "first summary or no big change",
    },
}


def summary_text(overview: MarketOverview, changes: list[str], lang: str) -> str:
    """A market summary in at most eight bullet lines."""
    q = overview.quote
    as_of = fmt_time(overview.freshness.as_of)
    b, b5, b1 = overview.breadth_prev_close, overview.breadth_5m, overview.breadth_1h
    phrase_lang = "ko" if lang == "ko" else "en"  # any other language gets the English wording
    p = _SUMMARY_PHRASES[phrase_lang]
    lines: list[str] = [p["header"].format(mark=MARK[phrase_lang], as_of=as_of, quote=q, markets=overview.markets)]
    line = p["breadth"].format(up=b.up, down=b.down, flat=b.flat)
    line += p["breadth_5m"].format(up=b5.up, down=b5.down) if b5.total else ""
    line += p["breadth_1h"].format(up=b1.up, down=b1.down) if b1.total else ""
    lines.append(line)
    majors = [
        f"{label} {fmt_price(c.price)} {fmt_pct(c.change_24h_pct)}"
        for label, c in (("BTC", overview.btc), ("ETH", overview.eth))
        if c is not None
    ]
    if majors:
        lines.append("- " + ", ".join(majors) + p["majors_suffix"])
    if overview.gainers:
        lines.append(p["gainers"] + ", ".join(_coin(c, q, lang) for c in overview.gainers[:3]))
    if overview.losers:
        lines.append(p["losers"] + ", ".join(_coin(c, q, lang) for c in overview.losers[:3]))
    if overview.movers_5m:
        movers = ", ".join(f"{short_code(c.market, q)} {fmt_pct(c.change_5m_pct)}" for c in overview.movers_5m[:3])
        lines.append(p["movers"].format(movers=movers))
    v24, v1 = fmt_krw(overview.value_24h_upbit_krw), fmt_krw(overview.value_1h_fills_krw)
    leaders = overview.value_leaders
    leader = p["leader"].format(market=short_code(leaders[0].market, q)) if leaders else ""
    lines.append(p["value"].format(v24=v24, v1=v1, leader=leader))
    if overview.open_anomalies_count:
        items = "; ".join(f"{short_code(a.market, q)} {a.kind} ({a.severity})" for a in overview.open_anomalies[:3])
        lines.append(p["anomalies"].format(count=overview.open_anomalies_count, items=items))
    else:
        lines.append(p["no_anomalies"])
    lines.append(p["since"] + ("; ".join(changes) if changes else p["no_changes"]))
    return "\n".join(lines)


def _parts(pairs: list[tuple[str, object, str]]) -> str:
    """Join "label value" pieces, leaving out the ones whose figure is missing (no "n/a" noise)."""
    return ", ".join(f"{label} {text}".strip() for label, value, text in pairs if value is not None)


# The coin answer's wording per language; one code path (coin_answer) fills in the figures.
_COIN_PHRASES: dict[str, dict[str, str]] = {
    "ko": {
        "24h": "24시간",
        "1h": "1시간",
        "5m": "5분",
        "value_1h": "최근 1시간 거래대금",
        "vs_normal": "평소 대비",
        "buy_share": "매수 비중",
        "opening": "{name}: {as_of} 기준 {price} {quote}",
        "day_range": " 오늘 범위 {low}-{high}",
        "day_position": " 중 {position} 위치.",
        "warning": "투자유의",
        "flags": " 유의 표시: ",
        "anomalies": " 이상 징후: ",
    },
    "en": {
        "24h": "24h",
        "1h": "1h",
        "5m": "5m",
        "value_1h": "value traded last hour",
        "vs_normal": "versus normal",
        "buy_share": "buy share",
        "opening": "{name}: as of {as_of} {price} {quote}",
        "day_range": " Day range {low}-{high}",
        "day_position": ", now at {position} of it.",
        "warning": "warning",
        "flags": " Flags: ",
        "anomalies": " Anomalies: ",
    },
}


def coin_answer(briefs: list[CoinBrief], lang: str) -> str:
    """An answer about one or more coins: price, changes, value versus normal, position in range, anomalies."""
    lines = [MARK[lang]]
    ko = lang == "ko"
    p = _COIN_PHRASES["ko" if ko else "en"]
    for b in briefs:
        r = b.ref
        as_of = fmt_time(b.freshness.as_of)
        name = (
            (f"{r.korean_name}({r.market})" if r.korean_name else r.market)
            if ko
            else (f"{r.english_name or r.korean_name} ({r.market})")
        )
        changes = _parts(
            [
                (p["24h"], b.change_24h_pct, fmt_pct(b.change_24h_pct)),
                (p["1h"], b.change_1h_pct, fmt_pct(b.change_1h_pct)),
                (p["5m"], b.change_5m_pct, fmt_pct(b.change_5m_pct)),
            ]
        )
        activity = _parts(
            [
                (p["value_1h"], b.value_1h_fills_krw, fmt_krw(b.value_1h_fills_krw)),
                (p["vs_normal"], b.value_vs_baseline, fmt_ratio(b.value_vs_baseline)),
                (p["buy_share"], b.buy_share_1h_pct, fmt_share(b.buy_share_1h_pct)),
            ]
        )
        text = p["opening"].format(name=name, as_of=as_of, price=fmt_price(b.price), quote=r.quote)
        text += (f", {changes}" if changes else "") + "."
        if activity:
            # English starts a new sentence here; Korean has no capitals (the activity text stays as it is).
            text += f" {activity}." if ko else f" {activity[0].upper()}{activity[1:]}."
        if b.day_low is not None and b.day_high is not None:
            text += p["day_range"].format(low=fmt_price(b.day_low), high=fmt_price(b.day_high))
            position = b.day_position_pct
            text += p["day_position"].format(position=fmt_share(position)) if position is not None else "."
        flags = ([p["warning"]] if r.warning else []) + r.caution
        if flags:
            text += p["flags"] + ", ".join(flags) + "."
        if b.anomalies:
            text += p["anomalies"] + "; ".join(f"{a.kind} ({a.severity}, {a.status})" for a in b.anomalies[:2]) + "."
        lines.append(text)
    return "\n".join(lines)


# kind of anomaly → (cause category, what to watch next) for the rule-based reading.
_RULES: dict[str, tuple[str, list[str], list[str]]] = {
    "value_spike": (
        "whale_trade",
        ["거래대금이 평소 수준으로 돌아오는지", "가격이 급변 전 수준을 지키는지"],
        ["whether traded value returns to normal", "whether price holds the pre-spike level"],
    ),
    "volume_spike": (
        "whale_trade",
        ["거래대금이 평소 수준으로 돌아오는지", "가격이 급변 전 수준을 지키는지"],
        ["whether traded value returns to normal", "whether price holds the pre-spike level"],
    ),
    "price_jump": (
        "news_or_listing",
        ["급변 이후 되돌림 여부", "거래대금이 함께 늘었는지"],
        ["whether the move reverses", "whether traded value confirms it"],
    ),
    "buy_burst": (
        "whale_trade",
        ["매수 비중이 50% 부근으로 돌아오는지", "호가 잔량 변화"],
        ["whether the buy share falls back towards 50%", "order book depth"],
    ),
    "market_move": (
        "market_wide_move",
        ["BTC·ETH 방향", "상승/하락 종목 수 변화"],
        ["direction of BTC and ETH", "breadth (advancers vs decliners)"],
    ),
    "caution_flag": (
        "news_or_listing",
        ["업비트 공지", "유의 표시 해제 여부"],
        ["Upbit notices", "whether the flag is lifted"],
    ),
    "data_stale": (
        "data_issue",
        ["수집 재개 여부", "업비트 연결 상태"],
        ["whether ingest resumes", "the Upbit connection"],
    ),
}


def interpretation(anomaly: dict[str, Any], brief: CoinBrief | None, lang: str) -> dict[str, Any]:
    """A rule-based reading of an anomaly event: cause category, confidence, what to watch next, text."""
    kind = str(anomaly.get("kind", ""))
    category, watch_ko, watch_en = _RULES.get(kind, ("unknown", ["추가 데이터"], ["more data"]))
    severity = str(anomaly.get("severity", ""))
    confidence = "medium" if severity in ("high", "critical") and category != "unknown" else "low"
    market = str(anomaly.get("market", ""))
    if lang == "ko":
        text = f"{MARK['ko']} {market} {kind} ({severity})."
        if brief is not None:
            text += (
                f" 현재 {fmt_price(brief.price)}, 5분 {fmt_pct(brief.change_5m_pct)}, "
                f"1시간 {fmt_pct(brief.change_1h_pct)},"
                f" 거래대금 평소의 {fmt_ratio(brief.value_vs_baseline)}."
            )
        text += f" 규칙 기반 추정 원인: {category}."
        watch = watch_ko
    else:
        text = f"{MARK['en']} {market} {kind} ({severity})."
        if brief is not None:
            text += (
                f" Now {fmt_price(brief.price)}, 5m {fmt_pct(brief.change_5m_pct)}, 1h {fmt_pct(brief.change_1h_pct)},"
                f" value {fmt_ratio(brief.value_vs_baseline)} of normal."
            )
        text += f" Rule-based likely cause: {category}."
        watch = watch_en
    return {"cause_category": category, "confidence": confidence, "watch_next": watch, "text": text, "offline": True}
