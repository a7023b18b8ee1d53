"""Offline answers to market questions, per intent, in the question's language — written from the same tool results
Claude would read, with the numbers as the tools print them (so the number check passes) and Korean amounts the way
a Korean trading app writes them (1,234원, 12.3억원, KST)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from analytics.units import fmt_krw, fmt_pct, fmt_price
from llm.intent import Intent

KST = timezone(timedelta(hours=9), "KST")
MARK = {"ko": "[오프라인 분석 · Claude 미사용]", "en": "[offline analyst · not Claude]"}
NOT_ADVICE = {
    "ko": "투자 권유가 아닙니다. 위 수치는 판단을 돕기 위한 사실이며, 매수·매도 결정과 책임은 본인에게 있습니다.",
    "en": "This is not investment advice: these are the facts in the data; the decision to buy or sell is yours.",
}
WINDOW_LABEL = {
    "ko": {
        "1m": "최근 1분",
        "5m": "최근 5분",
        "1h": "최근 1시간",
        "24h": "전일 종가 대비",
        "rolling_24h": "최근 24시간",
    },
    "en": {
        "1m": "last minute",
        "5m": "last 5 minutes",
        "1h": "last hour",
        "24h": "since the previous close",
        "rolling_24h": "rolling 24 hours",
    },
}
DIRECTION_LABEL = {
    "ko": {
        "gainers": "상승률 상위",
        "losers": "하락률 상위",
        "value": "거래대금 상위",
        "active": "체결 많은 순",
        "both": "변동률 상위",
    },
    "en": {
        "gainers": "top gainers",
        "losers": "top losers",
        "value": "most traded by value",
        "active": "most active",
        "both": "biggest movers",
    },
}


def won(price: float | None) -> str:
    """A KRW price as a Korean app writes it: 95,560,000원 / 0.1234원."""
    if price is None:
        return "n/a"
    return f"{price:,.0f}원" if abs(price) >= 100 else f"{float(fmt_price(price)):g}원"


def krw(price: float | None) -> str:
    """A KRW price for English text, with thousands separators (92,019,000)."""
    if price is None:
        return "n/a"
    return f"{price:,.0f}" if abs(price) >= 100 else fmt_price(price)


def krw_amount(value: float | None, lang: str) -> str:
    """A KRW amount: 41.3억원 / 1,234만원 in Korean, 4.13B KRW in English (the tools' own rounding)."""
    if value is None:
        return "n/a"
    if lang != "ko":
        return f"{fmt_krw(value)} KRW"
    compact = fmt_krw(value)  # the figure the tool printed, e.g. 4.13B; the same number in 억/만
    scale = {"T": 1e12, "B": 1e9, "M": 1e6, "K": 1e3}.get(compact[-1:], 1.0)
    shown = float(compact[:-1]) * scale if scale != 1.0 else value
    if abs(shown) >= 1e12:
        return f"{shown / 1e12:.3g}조원"
    if abs(shown) >= 1e8:
        return f"{shown / 1e8:,.4g}억원".replace(",", "") if shown < 1e11 else f"{shown / 1e8:,.0f}억원"
    if abs(shown) >= 1e4:
        return f"{shown / 1e4:,.0f}만원"
    return f"{shown:,.0f}원"


def when(iso: str | None, lang: str) -> str:
    if not iso:
        return "시각 미상" if lang == "ko" else "time unknown"
    ts = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if lang == "ko":
        return ts.astimezone(KST).strftime("%m월 %d일 %H:%M KST 기준")
    return "as of " + ts.strftime("%Y-%m-%d %H:%M UTC")


def _name(item: dict[str, Any], lang: str) -> str:
    symbol = str(item.get("market", "")).split("-", 1)[-1]
    if lang == "ko" and item.get("korean_name"):
        return f"{item['korean_name']}({symbol})"
    return symbol


def movers(intent: Intent, data: dict[str, Any], as_of: str | None) -> str:
    lang = intent.language
    items = data.get("items", [])
    window = WINDOW_LABEL[lang].get(str(data.get("window")), str(data.get("window")))
    title = DIRECTION_LABEL[lang].get(str(data.get("direction")), "")
    if not items:
        return (
            f"{MARK[lang]} {when(as_of, lang)} {window} {title}에 해당하는 코인이 없습니다."
            if lang == "ko"
            else f"{MARK[lang]} No coins qualify for {title} ({window}), {when(as_of, lang)}."
        )
    lines = []
    # English lines name a short window on each change (the claim verifier reads a change's window from its line).
    per_line = f"{data.get('window')} " if lang != "ko" and data.get("window") in ("1m", "5m", "1h") else ""
    for m in items:
        value = m.get("value_fills_krw") if m.get("value_fills_krw") is not None else m.get("value_24h_upbit_krw")
        extra = f" · 체결 {m['fills']:,}건" if lang == "ko" and m.get("fills") is not None else ""
        if lang != "ko" and m.get("fills") is not None:
            extra = f" · {m['fills']:,} fills"
        price = won(m.get("price")) if lang == "ko" else f"{krw(m.get('price'))} KRW"
        value_label = "거래대금" if lang == "ko" else "value"
        lines.append(
            f"- {_name(m, lang)} {price} {per_line}{fmt_pct(m.get('change_pct'))} · {value_label} "
            f"{krw_amount(value, lang)}{extra}"
        )
    head = (
        f"{MARK[lang]} {when(as_of, lang)} {window} {title} (업비트 원화 마켓):"
        if lang == "ko"
        else f"{MARK[lang]} {title.capitalize()}, {window}, Upbit KRW market, {when(as_of, lang)}:"
    )
    return head + "\n" + "\n".join(lines)


def mood(intent: Intent, data: dict[str, Any], as_of: str | None) -> str:
    lang = intent.language
    b = data.get("breadth_prev_close", {})
    b1 = data.get("breadth_1h", {})
    btc, eth = data.get("btc") or {}, data.get("eth") or {}
    gainers, losers = data.get("gainers") or [], data.get("losers") or []
    n_anom = data.get("open_anomalies_count", 0)
    up, down = b.get("up", 0), b.get("down", 0)
    if lang == "ko":
        tone = "상승 우위" if up > down else "하락 우위" if down > up else "보합"
        lines = [
            f"{MARK[lang]} {when(as_of, lang)} 업비트 원화 마켓 {data.get('markets', 0)}개: {tone}.",
            f"- 전일 종가 대비 상승 {up}개 · 하락 {down}개 · 보합 {b.get('flat', 0)}개; "
            f"최근 1시간 상승 {b1.get('up', 0)}개 · 하락 {b1.get('down', 0)}개",
        ]
        if btc:
            lines.append(
                f"- 비트코인 {won(btc.get('price'))} {fmt_pct(btc.get('change_24h_pct'))}"
                + (f", 이더리움 {won(eth.get('price'))} {fmt_pct(eth.get('change_24h_pct'))}" if eth else "")
            )
        lines.append(
            f"- 거래대금 24시간 {krw_amount(data.get('value_24h_upbit_krw'), lang)}, 최근 1시간 "
            f"{krw_amount(data.get('value_1h_fills_krw'), lang)}"
        )
        if gainers:
            lines.append(f"- 가장 많이 오른 코인 {_name(gainers[0], lang)} {fmt_pct(gainers[0].get('change_24h_pct'))}")
        if losers:
            lines.append(f"- 가장 많이 내린 코인 {_name(losers[0], lang)} {fmt_pct(losers[0].get('change_24h_pct'))}")
        lines.append(f"- 진행 중인 이상 징후 {n_anom}건" if n_anom else "- 진행 중인 이상 징후 없음")
        return "\n".join(lines)
    tone = "more coins up than down" if up > down else "more coins down than up" if down > up else "flat"
    lines = [
        f"{MARK[lang]} Upbit KRW market, {data.get('markets', 0)} coins, {when(as_of, lang)}: {tone}.",
        f"- vs previous close: {up} up, {down} down, {b.get('flat', 0)} flat; last hour {b1.get('up', 0)} up, "
        f"{b1.get('down', 0)} down",
    ]
    if btc:
        lines.append(
            f"- BTC {krw(btc.get('price'))} KRW {fmt_pct(btc.get('change_24h_pct'))}"
            + (f", ETH {krw(eth.get('price'))} KRW {fmt_pct(eth.get('change_24h_pct'))}" if eth else "")
        )
    lines.append(
        f"- value traded 24h {krw_amount(data.get('value_24h_upbit_krw'), lang)}, last hour "
        f"{krw_amount(data.get('value_1h_fills_krw'), lang)}"
    )
    if gainers:
        lines.append(f"- top gainer {_name(gainers[0], lang)} {fmt_pct(gainers[0].get('change_24h_pct'))}")
    if losers:
        lines.append(f"- top loser {_name(losers[0], lang)} {fmt_pct(losers[0].get('change_24h_pct'))}")
    lines.append(f"- open anomalies: {n_anom}" if n_anom else "- no open anomalies")
    return "\n".join(lines)


KIND_KO = {
    "value_spike": "거래대금 급증",
    "price_jump": "가격 급변",
    "pump": "급등",
    "dump": "급락",
    "buy_burst": "매수 쏠림",
    "caution_flag": "유의 지정",
    "market_move": "시장 전체 급변",
    "data_stale": "데이터 지연",
}
SEVERITY_KO = {"info": "정보", "low": "낮음", "medium": "중간", "high": "높음", "critical": "심각"}
STATUS_KO = {"open": "진행 중", "escalated": "격상", "resolved": "종료"}


def anomalies(intent: Intent, data: dict[str, Any], as_of: str | None) -> str:
    lang = intent.language
    items = data.get("items", [])
    span = intent.minutes
    if lang == "ko":
        scope = f"최근 {span}분" if span and span < 120 else f"최근 {span // 60}시간" if span else "최근 24시간"
        if not items:
            return f"{MARK[lang]} {when(as_of, lang)} {scope} 동안 감지된 이상 징후가 없습니다."
        lines = [f"{MARK[lang]} {when(as_of, lang)} {scope} 이상 징후 {data.get('total', len(items))}건:"]
        for a in items[:8]:
            started = when(a.get("started_at"), lang).replace(" 기준", "")
            lines.append(
                f"- {str(a.get('market', '')).split('-', 1)[-1]} {KIND_KO.get(a['kind'], a['kind'])} "
                f"(심각도 {SEVERITY_KO.get(a['severity'], a['severity'])}, {STATUS_KO.get(a['status'], a['status'])}, "
                f"시작 {started})"
            )
        return "\n".join(lines)
    scope = f"last {span} minutes" if span else "last 24 hours"
    if not items:
        return f"{MARK[lang]} No anomalies detected in the {scope}, {when(as_of, lang)}."
    lines = [f"{MARK[lang]} {data.get('total', len(items))} anomalies in the {scope}, {when(as_of, lang)}:"]
    for a in items[:8]:
        lines.append(
            f"- {str(a.get('market', '')).split('-', 1)[-1]} {a['kind'].replace('_', ' ')} ({a['severity']}, "
            f"{a['status']}, started {str(a.get('started_at', ''))[11:16]} UTC)"
        )
    return "\n".join(lines)


def history(intent: Intent, market: str, name: str, rows: list[str], as_of: str | None) -> str:
    """From the candles tool's compact rows (t,open,high,low,close,volume,value,fills)."""
    lang = intent.language
    symbol = market.split("-", 1)[-1]
    label = f"{name}({symbol})" if lang == "ko" and name else symbol
    span = intent.minutes or 60
    span_ko = f"{span}분" if span < 120 else f"{span // 60}시간" if span < 2880 else f"{span // 1440}일"
    span_en = f"{span} minutes" if span < 120 else f"{span // 60} hours" if span < 2880 else f"{span // 1440} days"
    if not rows:
        return (
            f"{MARK[lang]} {label}: 최근 {span_ko} 동안 체결이 없습니다."
            if lang == "ko"
            else f"{MARK[lang]} {label}: no trades in the last {span_en}."
        )
    fields = [r.split(",") for r in rows]
    first_open = float(fields[0][1]) if fields[0][1] else None
    last_close = float(fields[-1][4]) if fields[-1][4] else None
    if lang == "ko":
        return (
            f"{MARK[lang]} {when(as_of, lang)} {label} 최근 {span_ko} 흐름: "
            f"시가 {won(first_open)} → 현재 {won(last_close)}."
        )
    return (
        f"{MARK[lang]} {label} over the last {span_en}, {when(as_of, lang)}: open "
        f"{krw(first_open)} → now {krw(last_close)} KRW."
    )
