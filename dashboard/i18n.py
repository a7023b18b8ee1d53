"""The dashboard's Korean and English UI strings and the choice of language for a request."""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request

Lang = Literal["ko", "en"]
LANGS: tuple[Lang, ...] = ("ko", "en")
LANG_COOKIE = "upbit_web_lang"

# One key per visible string. The JavaScript receives the table of the page's language as JSON.
STRINGS: dict[str, dict[Lang, str]] = {
    "title": {"ko": "업비트 LLM 대시보드", "en": "Upbit LLM dashboard"},
    "overview": {"ko": "시장 개요", "en": "Market overview"},
    "breadth": {"ko": "시장 폭", "en": "Breadth"},
    "rising": {"ko": "상승", "en": "Up"},
    "falling": {"ko": "하락", "en": "Down"},
    "flat": {"ko": "보합", "en": "Flat"},
    "markets": {"ko": "마켓", "en": "Markets"},
    "value_traded": {"ko": "거래대금", "en": "Value traded"},
    "value_24h": {"ko": "거래대금(24h)", "en": "Value (24h)"},
    "coin": {"ko": "코인", "en": "Coin"},
    "price": {"ko": "현재가", "en": "Price"},
    "change_24h": {"ko": "전일 대비", "en": "vs prev close"},  # Upbit's change since 09:00 KST, not 24 h
    "change_1m": {"ko": "1분", "en": "1m"},
    "change_5m": {"ko": "5분", "en": "5m"},
    "change_1h": {"ko": "1시간", "en": "1h"},
    "summary": {"ko": "최신 시장 요약", "en": "Latest market summary"},
    "no_summary": {"ko": "아직 요약이 없습니다.", "en": "No summary yet."},
    "model": {"ko": "모델", "en": "Model"},
    "tokens": {"ko": "토큰", "en": "Tokens"},
    "cost": {"ko": "비용", "en": "Cost"},
    "offline": {"ko": "오프라인 분석기", "en": "offline analyst"},
    "as_of": {"ko": "기준 시각", "en": "As of"},
    "ago": {"ko": "전", "en": "ago"},
    "stale": {"ko": "지연", "en": "stale"},
    "live": {"ko": "실시간", "en": "live"},
    "reconnecting": {"ko": "재연결 중", "en": "reconnecting"},
    "anomalies": {"ko": "이상 징후", "en": "Anomalies"},
    "no_anomalies": {"ko": "이상 징후가 없습니다.", "en": "No anomalies."},
    "severity": {"ko": "심각도", "en": "Severity"},
    "status": {"ko": "상태", "en": "Status"},
    "search": {"ko": "코인 검색 (예: 비트코인, BTC)", "en": "Find a coin (e.g. bitcoin, BTC)"},
    "filter": {"ko": "목록 필터", "en": "Filter the list"},
    "chart": {"ko": "차트", "en": "Chart"},
    "ask": {"ko": "질문하기", "en": "Ask"},
    "ask_placeholder": {
        "ko": "이 코인에 대해 물어보세요 (예: 지금 어때?)",
        "en": "Ask about this coin (e.g. how is it now?)",
    },
    "asking": {"ko": "분석 중…", "en": "Thinking…"},
    "answer": {"ko": "답변", "en": "Answer"},
    "brief": {"ko": "코인 요약", "en": "Coin brief"},
    "day_range": {"ko": "당일 범위", "en": "Day range"},
    "week52_range": {"ko": "52주 범위", "en": "52-week range"},
    "buy_share": {"ko": "매수 비중", "en": "Buy share"},
    "value_vs_base": {"ko": "거래대금/평소", "en": "Value vs usual"},
    "caution": {"ko": "유의 사항", "en": "Caution"},
    "back": {"ko": "← 시장 개요", "en": "← Market overview"},
    "not_found": {"ko": "찾을 수 없는 코인입니다", "en": "Unknown coin"},
    "did_you_mean": {"ko": "혹시 이 코인인가요?", "en": "Did you mean"},
    "error": {"ko": "오류", "en": "Error"},
    "colour_note": {
        "ko": "빨강 = 상승, 파랑 = 하락 (국내 관례)",
        "en": "Red = up, blue = down (Korean convention)",
    },
    "freshness": {"ko": "데이터 신선도", "en": "Data freshness"},
    "no_data": {"ko": "데이터가 아직 없습니다. 수집기를 실행하세요.", "en": "No data yet: start ingest and consume."},
    "grounded_no": {"ko": "수치 미검증", "en": "numbers not verified"},
    "grounded_yes": {"ko": "수치 검증됨", "en": "numbers verified"},
    "question": {"ko": "질문", "en": "Question"},
    "lang_other": {"ko": "English", "en": "한국어"},
    "buy": {"ko": "매수", "en": "buy"},
    "context": {"ko": "컨텍스트", "en": "context"},
    "status_open": {"ko": "진행 중", "en": "open"},
    "status_escalated": {"ko": "확대", "en": "escalated"},
    "status_resolved": {"ko": "해소", "en": "resolved"},
    # Anomaly kinds (anomaly/detector.py); an unknown kind is shown as its code.
    "kind_value_spike": {"ko": "거래대금 급증", "en": "value spike"},
    "kind_price_jump": {"ko": "가격 급변", "en": "price jump"},
    "kind_buy_burst": {"ko": "매수 급증", "en": "buy burst"},
    "kind_market_move": {"ko": "시장 전체 변동", "en": "market-wide move"},
    "kind_caution_flag": {"ko": "유의 지정", "en": "caution flag"},
    "kind_data_stale": {"ko": "데이터 지연", "en": "data stale"},
    # Upbit market_event flags.
    "flag_warning": {"ko": "투자유의", "en": "investment warning"},
    "flag_PRICE_FLUCTUATIONS": {"ko": "가격 급등락", "en": "price swings"},
    "flag_TRADING_VOLUME_SOARING": {"ko": "거래량 급등", "en": "volume soaring"},
    "flag_DEPOSIT_AMOUNT_SOARING": {"ko": "입금량 급등", "en": "deposits soaring"},
    "flag_GLOBAL_PRICE_DIFFERENCES": {"ko": "가격 차이", "en": "global price gap"},
    "flag_CONCENTRATION_OF_SMALL_ACCOUNTS": {"ko": "소수 계정 집중", "en": "few accounts"},
}


def strings(lang: Lang) -> dict[str, str]:
    return {key: value[lang] for key, value in STRINGS.items()}


def parse_lang(value: str | None) -> Lang | None:
    if not value:
        return None
    value = value.strip().lower()[:2]
    return "ko" if value == "ko" else "en" if value == "en" else None


def choose_lang(request: Request, default: Lang) -> Lang:
    """?lang= wins, then the cookie the toggle set, then the browser's Accept-Language, then REPORT_LANGUAGE."""
    chosen = parse_lang(request.query_params.get("lang")) or parse_lang(request.cookies.get(LANG_COOKIE))
    if chosen:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        found = parse_lang(part.split(";")[0])
        if found:
            return found
    return default
