"""The offline analyst: deterministic summaries, answers and interpretations from the same context, without Claude.

Used when ANTHROPIC_API_KEY is empty. Every figure is printed with the analytics layer's own formatters (Korean
text in 억/만원 with thousands separators and KST times), so the text passes the same claim-level verification as
Claude's answers. Every text starts with a marker saying it is offline. Changes labelled "전일 대비" / "vs prev close"
are Upbit's change since the previous close (09:00 KST), never called 24h.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from analytics.context import fmt_time, short_code
from analytics.models import CoinBrief, CoinLine, MarketOverview
from analytics.units import fmt_krw, fmt_krw_ko, fmt_pct, fmt_price, fmt_price_ko, fmt_ratio, fmt_share

KST = timedelta(hours=9)
# Upbit market_event.caution flags as Upbit's own Korean notices name them.
CAUTION_NAMES: dict[str, tuple[str, str]] = {
    "PRICE_FLUCTUATIONS": ("가격 급등락", "sharp price swings"),
    "TRADING_VOLUME_SOARING": ("거래량 급등", "trading volume soaring"),
    "DEPOSIT_AMOUNT_SOARING": ("입금량 급등", "deposits soaring"),
    "GLOBAL_PRICE_DIFFERENCES": ("글로벌 시세 차이", "price gap to global exchanges"),
    "CONCENTRATION_OF_SMALL_ACCOUNTS": ("소수 계정 거래 집중", "trading concentrated in few accounts"),
    "warning": ("투자유의", "investment warning"),
}


def caution_name(flag: str, lang: str) -> str:
    ko, en = CAUTION_NAMES.get(flag, (flag, flag))
    return ko if lang == "ko" else en


def fmt_kst(ts: datetime | None) -> str:
    """Event time for Korean readers: "11월 30일 07:37 KST"."""
    if ts is None:
        return "n/a"
    k = ts.astimezone(UTC) + KST
    return f"{k.month}월 {k.day}일 {k:%H:%M} KST"


def _when(ts: datetime | None, lang: str) -> str:
    return fmt_kst(ts) if lang == "ko" else fmt_time(ts)


def _krw(value: float | None, lang: str) -> str:
    return fmt_krw_ko(value) if lang == "ko" else fmt_krw(value)


def _price(value: float | None, lang: str) -> str:
    return fmt_price_ko(value) if lang == "ko" else fmt_price(value)


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
        "majors_suffix": " (전일 대비)",
        "gainers": "- 전일 대비 상승 상위: ",
        "losers": "- 전일 대비 하락 상위: ",
        "movers": "- 최근 5분 급변: {movers}",
        "leader": "; 상위 {market}",
        "value": "- 거래대금 24시간 {v24}, 최근 1시간{cov} {v1}{leader}",
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
        "majors_suffix": " (vs prev close)",
        "gainers": "- top gainers vs prev close: ",
        "losers": "- top losers vs prev close: ",
        "movers": "- sharpest 5m moves: {movers}",
        "leader": "; leader {market}",
        "value": "- value traded 24h {v24}, last hour{cov} {v1}{leader}",
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
    as_of = _when(overview.freshness.as_of, phrase_lang)
    lines: list[str] = [p["header"].format(mark=MARK[phrase_lang], as_of=as_of, quote=q, markets=overview.markets)]
    line = p["breadth"].format(up=b.up, down=b.down, flat=b.flat)
    line += p["breadth_5m"].format(up=b5.up, down=b5.down) if b5.total else ""
    line += p["breadth_1h"].format(up=b1.up, down=b1.down) if b1.total else ""
    lines.append(line)
    majors = [
        f"{label} {_price(c.price, phrase_lang)} {fmt_pct(c.change_24h_pct)}"
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
    v24, v1 = _krw(overview.value_24h_upbit_krw, phrase_lang), _krw(overview.value_1h_fills_krw, phrase_lang)
    leaders = overview.value_leaders
    leader = p["leader"].format(market=short_code(leaders[0].market, q)) if leaders else ""
    cov = _coverage(overview.value_1h_coverage_seconds, phrase_lang)
    lines.append(p["value"].format(v24=v24, v1=v1, leader=leader, cov=cov))
    if overview.open_anomalies_count:
        items = "; ".join(
            f"{short_code(a.market, q)} {_kind_name(a.kind, phrase_lang)} ({_severity(a.severity, phrase_lang)})"
            for a in overview.open_anomalies[:3]
        )
        lines.append(p["anomalies"].format(count=overview.open_anomalies_count, items=items))
    else:
        lines.append(p["no_anomalies"])
    lines.append(p["since"] + ("; ".join(changes) if changes else p["no_changes"]))
    return "\n".join(lines)


def _coverage(seconds: float | None, lang: str) -> str:
    """ "(8분치 데이터)" when the hour is not fully stored: a 1h figure from 8 minutes must say so."""
    if seconds is None or seconds >= 3540:
        return ""
    if seconds < 120:
        return f"({seconds:.0f}초치 데이터)" if lang == "ko" else f" ({seconds:.0f} s of data)"
    return f"({seconds / 60:.0f}분치 데이터)" if lang == "ko" else f" ({seconds / 60:.0f} min of data)"


def _parts(pairs: list[tuple[str, object, str]]) -> str:
    """Join "label value" pieces, leaving out the ones whose figure is missing (no "n/a" noise)."""
    return ", ".join(f"{label} {text}".strip() for label, value, text in pairs if value is not None)


# The coin answer's wording per language; one code path (coin_answer) fills in the figures.
_COIN_PHRASES: dict[str, dict[str, str]] = {
    "ko": {
        "prev_close": "전일 대비",
        "24h": "24시간",
        "1h": "1시간",
        "5m": "5분",
        "value_1h": "최근 1시간 거래대금",
        "vs_normal": "평소 대비",
        "buy_share": "매수 비중",
        "opening": "{name}: {as_of} 기준 {price}",
        "day_range": " 오늘(09:00 KST 이후) 범위 {low}~{high}",
        "day_position": " 중 {position} 위치.",
        "warning": "투자유의",
        "flags": " 유의 표시: ",
        "anomalies": " 이상 징후: ",
    },
    "en": {
        "prev_close": "vs prev close",
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
        as_of = _when(b.freshness.as_of, "ko" if ko else "en")
        name = (
            (f"{r.korean_name}({r.market})" if r.korean_name else r.market)
            if ko
            else (f"{r.english_name or r.korean_name} ({r.market})")
        )
        changes = _parts(
            [
                (p["prev_close"], b.change_24h_pct, fmt_pct(b.change_24h_pct)),
                (p["24h"], b.change_rolling_24h_pct, fmt_pct(b.change_rolling_24h_pct)),
                (p["1h"], b.change_1h_pct, fmt_pct(b.change_1h_pct)),
                (p["5m"], b.change_5m_pct, fmt_pct(b.change_5m_pct)),
            ]
        )
        activity = _parts(
            [
                (
                    p["value_1h"] + _coverage(b.value_1h_coverage_seconds, "ko" if ko else "en"),
                    b.value_1h_fills_krw,
                    _krw(b.value_1h_fills_krw, "ko" if ko else "en"),
                ),
                (p["vs_normal"], b.value_vs_baseline, fmt_ratio(b.value_vs_baseline)),
                (p["buy_share"], b.buy_share_1h_pct, fmt_share(b.buy_share_1h_pct)),
            ]
        )
        text = p["opening"].format(name=name, as_of=as_of, price=_price(b.price, "ko" if ko else "en"), quote=r.quote)
        text += (f", {changes}" if changes else "") + "."
        if activity:
            # English starts a new sentence here; Korean has no capitals (the activity text stays as it is).
            text += f" {activity}." if ko else f" {activity[0].upper()}{activity[1:]}."
        if b.day_low is not None and b.day_high is not None:
            text += p["day_range"].format(
                low=_price(b.day_low, "ko" if ko else "en"), high=_price(b.day_high, "ko" if ko else "en")
            )
            position = b.day_position_pct
            text += p["day_position"].format(position=fmt_share(position)) if position is not None else "."
        flags = ([p["warning"]] if r.warning else []) + [caution_name(c, "ko" if ko else "en") for c in r.caution]
        if flags:
            text += p["flags"] + ", ".join(flags) + "."
        if b.anomalies:
            lg = "ko" if ko else "en"
            text += (
                p["anomalies"]
                + "; ".join(
                    f"{_kind_name(a.kind, lg)} ({_severity(a.severity, lg)}, {a.status})" for a in b.anomalies[:2]
                )
                + "."
            )
        lines.append(text)
    return "\n".join(lines)


# kind of anomaly → (cause category, what to watch next in Korean, in English) for the rule-based reading.
_RULES: dict[str, tuple[str, list[str], list[str]]] = {
    "pump": (
        "whale_trade",
        ["급등 뒤 되돌림이 나오는지", "매수 비중이 균형 수준으로 돌아오는지"],
        ["whether the jump reverses", "whether the buy share falls back towards balance"],
    ),
    "dump": (
        "whale_trade",
        ["급락 뒤 반등이 나오는지", "거래대금이 평소 수준으로 돌아오는지"],
        ["whether the drop rebounds", "whether traded value returns to normal"],
    ),
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
        "low_liquidity",
        ["급변 이후 되돌림 여부", "거래대금이 함께 늘었는지"],
        ["whether the move reverses", "whether traded value confirms it"],
    ),
    "buy_burst": (
        "whale_trade",
        ["매수 비중이 균형 수준으로 돌아오는지", "호가 잔량 변화"],
        ["whether the buy share falls back towards balance", "order book depth"],
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
_KIND_NAMES = {
    "pump": ("급등", "pump"),
    "dump": ("급락", "dump"),
    "price_jump": ("가격 급변", "price jump"),
    "value_spike": ("거래대금 급증", "value spike"),
    "volume_spike": ("거래대금 급증", "value spike"),
    "buy_burst": ("매수 쏠림", "buy-pressure burst"),
    "market_move": ("시장 전체 동반 움직임", "market-wide move"),
    "caution_flag": ("업비트 유의 표시", "Upbit caution flag"),
    "data_stale": ("데이터 끊김", "data stale"),
}
_SEVERITY_KO = {"info": "참고", "low": "낮음", "medium": "보통", "high": "높음", "critical": "매우 높음"}
_STALE_REASONS = {
    "ingest_gap": ("수집 공백", "an ingest gap"),
    "ingest_gap_open": ("수집 공백 진행 중", "an open ingest gap"),
    "no_fills_on_any_market": ("모든 마켓 체결 없음", "no fills on any market"),
    "feed_stopped": ("시세 수신 중단", "the feed stopped"),
}


def _kind_name(kind: str, lang: str) -> str:
    ko, en = _KIND_NAMES.get(kind, (kind, kind))
    return ko if lang == "ko" else en


def _severity(severity: str, lang: str) -> str:
    return _SEVERITY_KO.get(severity, severity) if lang == "ko" else severity


def metric_text(key: str, value: object) -> str | None:
    """One metric as the event context writes it (and the offline reading repeats it): units in the key names."""
    if isinstance(value, bool) or value is None:
        return None if value is None else str(value).lower()
    if isinstance(value, int | float):
        v = float(value)
        if key.endswith("_krw"):
            return fmt_krw(v)
        if key.endswith("_pct"):
            return f"{round(v, 3):+g}%" if "share" not in key else f"{round(v, 1):g}%"
        if "ratio" in key:
            return f"{round(v, 2):g}x"
        return f"{round(v, 6):g}"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return "/".join(value) or "none"
    return None


def interpretation(anomaly: dict[str, Any], brief: CoinBrief | None, lang: str) -> dict[str, Any]:
    """A rule-based reading of an anomaly event: cause category, confidence, what to watch next, text.

    Every kind the detector emits gets its own reading from the event's metrics (the figures the context shows).
    """
    ko = lang == "ko"
    kind = str(anomaly.get("kind", ""))
    category, watch_ko, watch_en = _RULES.get(kind, ("unknown", ["추가 데이터"], ["more data"]))
    severity = str(anomaly.get("severity", ""))
    m = dict(anomaly.get("metrics") or {})
    confidence = "medium" if severity in ("high", "critical") and category != "unknown" else "low"
    market = str(anomaly.get("market", ""))
    name_ko, name_en = _KIND_NAMES.get(kind, (kind, kind))
    mt = {k: metric_text(k, v) for k, v in m.items()}
    secs = m.get("window_seconds")
    span = ""
    if isinstance(secs, int | float) and secs > 0:
        span = (
            (f"{secs / 60:g}분" if secs >= 60 else f"{secs:g}초")
            if ko
            else (f"{secs / 60:g} min" if secs >= 60 else f"{secs:g} s")
        )
    sev = _SEVERITY_KO.get(severity, severity) if ko else severity
    parts: list[str] = []
    if kind in ("pump", "dump", "price_jump") and mt.get("price_change_pct"):
        parts.append(
            (f"{span} 동안 가격 {mt['price_change_pct']}" if ko else f"price {mt['price_change_pct']} in {span}")
            if span
            else (f"가격 {mt['price_change_pct']}" if ko else f"price {mt['price_change_pct']}")
        )
    if kind in ("pump", "dump", "price_jump", "value_spike", "volume_spike", "buy_burst") and mt.get("value_ratio"):
        parts.append(f"거래대금 평소의 {mt['value_ratio']}" if ko else f"traded value {mt['value_ratio']} of normal")
    if kind in ("value_spike", "volume_spike") and mt.get("value_krw") and mt.get("baseline_value_krw"):
        parts.append(
            f"거래대금 {fmt_krw_ko(float(m['value_krw']))} (평소 {fmt_krw_ko(float(m['baseline_value_krw']))})"
            if ko
            else f"value {mt['value_krw']} vs baseline {mt['baseline_value_krw']}"
        )
    if kind in ("buy_burst", "pump") and mt.get("buy_share_pct"):
        parts.append(f"매수 비중 {mt['buy_share_pct']}" if ko else f"buy share {mt['buy_share_pct']}")
    if kind == "market_move":
        moving, liquid = m.get("markets_moving"), m.get("markets_liquid")
        if moving is not None and liquid is not None:
            word = ("상승" if m.get("direction") == "up" else "하락") if ko else str(m.get("direction", ""))
            parts.append(f"{liquid}개 중 {moving}개 마켓 {word}" if ko else f"{moving} of {liquid} markets {word}")
        if mt.get("median_change_pct"):
            parts.append(f"중앙값 {mt['median_change_pct']}" if ko else f"median {mt['median_change_pct']}")
    if kind == "caution_flag":
        flags = [caution_name(str(f), lang) for f in (m.get("flags_set") or [])]
        cleared = [caution_name(str(f), lang) for f in (m.get("flags_cleared") or [])]
        if flags:
            parts.append(("새 유의 표시: " if ko else "flag set: ") + ", ".join(flags))
        if cleared:
            parts.append(("해제: " if ko else "cleared: ") + ", ".join(cleared))
    if kind == "data_stale":
        reason = str(m.get("reason", ""))
        r_ko, r_en = _STALE_REASONS.get(reason, (reason or "원인 미상", reason or "unknown cause"))
        parts.append(f"원인: {r_ko}" if ko else f"cause: {r_en}")
    started = anomaly.get("started_at")
    when = _when(started, lang) if isinstance(started, datetime) else ""
    if ko:
        text = f"{MARK['ko']} {market} {name_ko} (심각도 {sev})" + (f", {when} 시작" if when else "") + "."
        if parts:
            text += " " + ", ".join(parts) + "."
        if brief is not None and kind not in ("data_stale", "market_move"):
            text += f" 현재가 {_price(brief.price, 'ko')}"
            if brief.change_5m_pct is not None:
                text += f", 5분 {fmt_pct(brief.change_5m_pct)}"
            text += "."
        text += f" 규칙 기반 추정 원인: {category}."
        watch = watch_ko
    else:
        text = f"{MARK['en']} {market} {name_en} ({severity})" + (f", started {when}" if when else "") + "."
        if parts:
            text += " " + "; ".join(parts) + "."
        if brief is not None and kind not in ("data_stale", "market_move"):
            text += f" Now {fmt_price(brief.price)}"
            if brief.change_5m_pct is not None:
                text += f", 5m {fmt_pct(brief.change_5m_pct)}"
            text += "."
        text += f" Rule-based likely cause: {category}."
        watch = watch_en
    return {"cause_category": category, "confidence": confidence, "watch_next": watch, "text": text, "offline": True}
