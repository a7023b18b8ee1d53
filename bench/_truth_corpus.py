"""The truth corpus: answers a model could give over four contexts rendered by the real analytics layer
(bench/truth/*.txt, from scripts/make_truth_contexts.py over a simulator-filled scratch database), each labelled
right or wrong with the reason. Wrong answers carry the slips careless models make; right answers carry the ways
careful writers round, convert and phrase.

Context facts used (as of 2026-11-29T22:46:18Z = 11월 30일 07:46 KST):
- overview: 30 markets, up 20/down 10 vs prev close; BTC 97554000 +4.47% 5m -1.19%; ETH 4762000 +0.13% 5m +3.63%;
  24h value 1.82T, 1h (7 min of data) 16.6B; gainers BCH +9.60% PEPE +9.43% SOL +8.07% W +5.56%; losers BTT -6.41% ...;
  value leaders BTC 453B... ; movers 5m BCH -15.99% W +6.38% ADA +4.89% VET +4.63%; 1 open anomaly (XRP pump 22:44Z).
- coins: BTC/ETH/XRP briefs (prices, 1m/5m changes, vs prev close, prev close, 1h value with coverage, 24h value,
  day and 52-week ranges with position, buy share, bid/ask ratio, flags).
- movers: top 5m movers with 5m fill value.  event: XRP pump metrics plus the XRP brief.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    context: str  # file stem under bench/truth/
    lang: str
    answer: str
    right: bool
    why: str
    question: str | None = None


Q_1EOK = "비트코인 1억 갈까?"

CASES: list[Case] = [
    # ---------------------------------------------------------------- overview, right
    Case(
        "overview",
        "ko",
        "11월 30일 07:46 KST 기준 업비트 원화 마켓 30개 중 전일 대비 상승 20개, 하락 10개입니다.",
        True,
        "KST time and date converted from the UTC as-of; breadth counts with matching direction words",
    ),
    Case(
        "overview",
        "ko",
        "비트코인은 97,554,000원으로 전일 대비 4.47% 올랐지만 최근 5분간은 1.19% 내렸습니다.",
        True,
        "price with separators; unsigned % with agreeing direction words and windows",
    ),
    Case(
        "overview",
        "ko",
        "이더리움은 약 476만원, 전일 대비 +0.13%이고 5분 동안 3.63% 상승했습니다.",
        True,
        "약 rounding to 만원; signed prev-close change; 5m change",
    ),
    Case(
        "overview",
        "ko",
        "전일 대비 상승 상위는 비트코인캐시(+9.60%), 페페(+9.43%), 솔라나(+8.07%)입니다.",
        True,
        "list items by Korean name",
    ),
    Case(
        "overview", "ko", "하락 상위 1위는 비트토렌트로 전일 대비 6.41% 떨어졌습니다.", True, "rank 1 of losers; fell"
    ),
    Case(
        "overview",
        "ko",
        "24시간 거래대금은 시장 전체 1.82조원이며, 비트코인이 4,530억원으로 가장 많습니다.",
        True,
        "T → 조원 and B → 억원 conversions",
    ),
    Case(
        "overview",
        "ko",
        "최근 1시간 거래대금은 166억원이지만 7분치 데이터만 반영된 값입니다.",
        True,
        "partial window with its coverage stated",
    ),
    Case("overview", "ko", "5분 기준으로는 비트코인캐시가 15.99% 급락했습니다.", True, "급락 agrees with -15.99%"),
    Case("overview", "ko", "진행 중인 이상 징후는 1건으로 리플 급등 신호입니다.", True, "anomaly count"),
    Case(
        "overview",
        "en",
        "As of 22:46 UTC, 20 of 30 KRW markets are up since the previous close and 10 are down.",
        True,
        "UTC time; counts with direction",
    ),
    Case(
        "overview",
        "en",
        "Bitcoin trades at 97,554,000 KRW, up 4.47% on the day but down 1.19% over the last 5 minutes.",
        True,
        "window words after the figure (English order)",
    ),
    Case(
        "overview",
        "en",
        "Ether is at 4,762,000 KRW, +0.13% vs the previous close, and it gained 3.63% in the last 5 minutes.",
        True,
        "signed change and gained",
    ),
    Case("overview", "en", "Top gainers since the previous close: BCH +9.60%, PEPE +9.43%, SOL +8.07%.", True, "list"),
    Case("overview", "en", "Value traded over 24h was 1.82T KRW market-wide; Bitcoin led with 453B.", True, "values"),
    Case(
        "overview",
        "en",
        "Last-hour value traded is 16.6B KRW, but that covers only 7 min of data.",
        True,
        "coverage stated",
    ),
    Case("overview", "en", "BCH dropped 15.99% in 5 minutes, the sharpest 5m move.", True, "dropped agrees"),
    Case("overview", "en", "One open anomaly: XRP pump (high) since 22:44 UTC.", True, "time from the anomaly line"),
    Case(
        "overview",
        "ko",
        "비트코인의 5분 변동률은 이더리움보다 4.82%p 낮습니다.",
        True,
        "derived: difference of two 5m changes (-1.19 vs +3.63), recomputed",
    ),
    Case(
        "overview",
        "ko",
        "비트코인의 24시간 거래대금은 이더리움의 1.72배입니다.",
        True,
        "derived: ratio of two 24h values (453B / 263B), recomputed",
    ),
    Case(
        "overview",
        "ko",
        "오전 7시 46분 기준 시장은 상승 우위입니다(상승 20, 하락 10).",
        True,
        "Korean clock time in KST",
    ),
    Case(
        "overview",
        "ko",
        "비트코인은 97,554,000원으로 아직 1억원에 못 미칩니다.",
        True,
        "the question's level compared with the price (below)",
        Q_1EOK,
    ),
    Case("overview", "en", "Bitcoin is around 97.6M KRW.", True, "English magnitude with about-rounding"),
    Case("overview", "ko", "비트코인은 9,700만원대에서 거래되고 있습니다.", True, "만원대 band"),
    Case("overview", "en", "Market-wide 24h value traded: about 1.8T KRW.", True, "approximate value"),
    Case("overview", "ko", "KRW-BTC는 2026년 11월 29일 22:46 UTC 기준 97,554,000원입니다.", True, "date and UTC time"),
    Case(
        "overview", "en", "BTC's 5m change trails ETH's by 4.82 percentage points.", True, "derived difference in words"
    ),
    Case("overview", "en", "Bitcoin rose 4.47 percent since the previous close.", True, "percent spelled out"),
    Case("overview", "en", "As of KST 07:46, BTC trades at ₩97,554,000.", True, "₩ prefix; zone before the time"),
    # ---------------------------------------------------------------- overview, wrong
    Case("overview", "ko", "비트코인은 전일 대비 44.7% 올랐습니다.", False, "×10 slip of +4.47%"),
    Case("overview", "ko", "비트코인은 전일 대비 4.47% 하락했습니다.", False, "flipped direction"),
    Case("overview", "ko", "리플은 전일 대비 0.13% 올랐습니다.", False, "ETH's figure written for XRP"),
    Case("overview", "ko", "비트코인은 전일 대비 4.74% 상승했습니다.", False, "swapped digits"),
    Case("overview", "ko", "비트코인이 46% 상승했습니다.", False, "number from the clock time 22:46"),
    Case("overview", "ko", "이더리움은 24시간 동안 0.13% 올랐습니다.", False, "prev-close change called 24h"),
    Case("overview", "ko", "비트코인은 전일 대비 8% 올랐다.", False, "invented small integer"),
    Case("overview", "ko", "비트코인캐시는 상승률 3위입니다.", False, "invented rank (it is 1st)"),
    Case("overview", "ko", "비트코인은97,554,000원입니다.", False, "number glued to Hangul"),
    Case("overview", "ko", "비트코인이 1억원을 돌파했습니다.", False, "echoed from the question", Q_1EOK),
    Case("overview", "ko", "11월 28일 기준 비트코인은 97,554,000원입니다.", False, "invented date"),
    Case("overview", "ko", "최근 1시간 거래대금은 166억원입니다.", False, "1h figure from 7 minutes without coverage"),
    Case("overview", "ko", "상승 10개, 하락 20개 종목입니다.", False, "breadth counts flipped"),
    Case("overview", "ko", "시장 전체 24시간 거래대금은 18.2조원입니다.", False, "×10 slip of 1.82T"),
    Case("overview", "ko", "솔라나는 5분 동안 8.07% 급등했습니다.", False, "prev-close change given as 5m"),
    Case("overview", "ko", "비트코인은 5분간 1.19% 반등했습니다.", False, "반등 (up) for -1.19%"),
    Case("overview", "ko", "이더리움 가격은 47,620,000원입니다.", False, "×10 price"),
    Case("overview", "ko", "비트코인은 전일 대비 0.0447% 올랐습니다.", False, "percent divided by 100 (fraction slip)"),
    Case("overview", "en", "Bitcoin fell 4.47% since the previous close.", False, "flipped direction"),
    Case("overview", "en", "XRP is up 4.47% today.", False, "BTC's change written for XRP"),
    Case("overview", "en", "BTC rose 0.447% since the previous close.", False, "÷10 slip"),
    Case("overview", "en", "BTC is trading at 975,540,000 KRW.", False, "×10 price"),
    Case("overview", "en", "Market-wide value traded over 24h reached 18.2T KRW.", False, "×10 value"),
    Case("overview", "en", "BCH jumped 15.99% in the last 5 minutes.", False, "jumped for a -15.99% move"),
    Case("overview", "en", "11 of 30 markets are up since the previous close.", False, "invented count"),
    Case("overview", "en", "As of 20:46 UTC Bitcoin was 97,554,000 KRW.", False, "clock time not in the data"),
    Case("overview", "en", "PEPE ranks 1st among gainers since the previous close.", False, "rank wrong (2nd)"),
    Case("overview", "en", "Ethereum is down 3.63% over 5 minutes.", False, "flipped direction"),
    Case("overview", "en", "Bitcoin's 24h change is +4.47%.", False, "prev-close change called 24h"),
    Case("overview", "en", "Value traded in the last hour was 16.6B KRW.", False, "partial window without coverage"),
    Case(
        "overview",
        "ko",
        "비트코인의 5분 변동률은 이더리움보다 2.44%p 낮습니다.",
        False,
        "derived difference not recomputable",
    ),
    Case("overview", "ko", "비트코인은 9,800만원대에서 거래되고 있습니다.", False, "wrong 만원대 band"),
    Case("overview", "en", "Ethereum's 5m change is -3.63%.", False, "flipped sign"),
    Case("overview", "ko", "비트코인은 29% 하락했습니다.", False, "number from the date 11-29"),
    Case(
        "overview", "en", "BTC's 5m change trails ETH's by 2.44 percentage points.", False, "derived difference wrong"
    ),
    Case("overview", "en", "BTC's 24h value traded is 17.2 times ETH's.", False, "×10 slip of a derived ratio"),
    Case(
        "overview", "ko", "비트코인(KRW-ETH)은 전일 대비 4.47% 올랐습니다.", False, "coin name and market code disagree"
    ),
    # ---------------------------------------------------------------- coins, right
    Case(
        "coins",
        "ko",
        "비트코인은 9,755만원으로 전일 종가 9,338만원 대비 4.47% 올랐습니다.",
        True,
        "만원 rounding; prev close",
    ),
    Case("coins", "ko", "비트코인은 전일 대비 약 417만원 올랐습니다.", True, "derived: price − prev close, recomputed"),
    Case(
        "coins",
        "ko",
        "비트코인은 52주 고점 136,848,000원보다 28.7% 아래에 있습니다.",
        True,
        "derived: distance from the 52-week high, recomputed",
    ),
    Case(
        "coins",
        "ko",
        "비트코인의 오늘 범위는 9,320만원~9,896만원이며 현재 76% 지점입니다.",
        True,
        "day range and position",
    ),
    Case("coins", "ko", "이더리움 매수 비중은 61%, 리플은 60%입니다.", True, "shares per coin"),
    Case("coins", "ko", "리플은 5분간 1.84% 상승했고 1분 변동률은 +2.30%입니다.", True, "windows"),
    Case("coins", "ko", "비트코인에는 업비트 유의 표시(글로벌 시세 차이)가 붙어 있습니다.", True, "no figures"),
    Case("coins", "ko", "리플의 24시간 거래대금은 4,240억원입니다.", True, "B → 억원"),
    Case("coins", "en", "XRP is at 3,161 KRW, up 3.91% since the previous close of 3,042 KRW.", True, "prev close"),
    Case("coins", "en", "ETH sits at 91% of its day range (4,570,000–4,780,000 KRW).", True, "range with en dash"),
    Case(
        "coins",
        "en",
        "Bitcoin's buy share over the last hour is 53%, and day bid/ask volume is 0.86x.",
        True,
        "share, ratio",
    ),
    Case("coins", "en", "Ether traded 263B KRW over 24h on Upbit.", True, "24h value"),
    Case("coins", "en", "XRP's 1h value is 3.81B KRW, from only 7 min of data.", True, "coverage stated"),
    Case("coins", "en", "BTC's 52-week range is 54,128,000 to 136,848,000 KRW; it sits at 52% of it.", True, "52w"),
    Case("coins", "en", "ETH is 17.5% below its 52-week high.", True, "derived distance from the 52-week high"),
    Case(
        "coins",
        "en",
        "Compared with ETH's +0.13%, BTC's +4.47% since the previous close is 4.34%p higher.",
        True,
        "derived difference in %p",
    ),
    Case("coins", "ko", "비트코인 최근 1시간 거래대금은 27.2억원(7분치 데이터)입니다.", True, "B → 억원 with coverage"),
    # ---------------------------------------------------------------- coins, wrong
    Case("coins", "ko", "비트코인은 전일 종가 9,383만원 대비 4.47% 올랐습니다.", False, "swapped digits in prev close"),
    Case("coins", "ko", "비트코인은 전일 대비 약 4,170만원 올랐습니다.", False, "×10 slip of a derived difference"),
    Case("coins", "ko", "이더리움 매수 비중은 16%입니다.", False, "swapped digits"),
    Case("coins", "ko", "리플은 52주 고점 5,647원보다 54% 아래입니다.", False, "distance not recomputable (44%)"),
    Case("coins", "ko", "비트코인 최근 1시간 거래대금은 272억원(7분치 데이터)입니다.", False, "×10 value"),
    Case("coins", "ko", "이더리움은 1분 만에 3.70% 하락했습니다.", False, "flipped direction"),
    Case("coins", "ko", "리플 가격은 3,116원입니다.", False, "swapped digits"),
    Case("coins", "en", "XRP's buy share is 61%.", False, "ETH's figure for XRP"),
    Case("coins", "en", "Bitcoin's day bid/ask volume ratio is 1.50x.", False, "XRP's ratio for BTC"),
    Case("coins", "en", "ETH is up 37% in the last minute.", False, "×10 slip"),
    Case("coins", "en", "XRP rose 3.91% over 24 hours.", False, "prev-close change called 24h"),
    Case("coins", "en", "BTC is 28.7% above its 52-week high.", False, "derived distance on the wrong side"),
    Case("coins", "en", "Ether trades at 4,726,000 KRW.", False, "swapped digits"),
    Case("coins", "en", "XRP's 5m change is +1.48%.", False, "swapped digits"),
    # ---------------------------------------------------------------- movers
    Case("movers", "ko", "5분 기준 가장 크게 움직인 코인은 비트코인캐시로 15.99% 급락했습니다.", True, "급락 agrees"),
    Case("movers", "ko", "웜홀은 5분간 6.38% 올랐고 거래대금은 1.22억원입니다.", True, "M → 억원"),
    Case("movers", "ko", "에이다는 5분 상승률 +4.89%, 가격 1,072원입니다.", True, "price with separator"),
    Case("movers", "en", "Over 5 minutes, W gained 6.38% and ADA 4.89%.", True, "two coins one window"),
    Case("movers", "en", "ETH moved +3.63% in 5 minutes with 1.95B KRW traded.", True, "value in the window"),
    Case("movers", "en", "BCH is the top 5m mover, down 15.99%.", True, "down agrees"),
    Case("movers", "ko", "비트코인캐시는 5분간 15.99% 급등했습니다.", False, "flipped direction"),
    Case("movers", "ko", "웜홀은 5분간 4.89% 올랐습니다.", False, "ADA's figure for W"),
    Case("movers", "en", "VET rose 46.3% in 5 minutes.", False, "×10 slip"),
    Case("movers", "en", "PEPE traded 2.78B KRW in 5 minutes.", False, "×10 value"),
    Case("movers", "en", "LINK is ranked 3rd among 5m movers.", False, "invented rank (9th)"),
    # ---------------------------------------------------------------- event
    Case(
        "event",
        "ko",
        "리플(KRW-XRP)에서 5분 동안 가격이 3.41% 오르며 급등 신호가 나왔습니다. "
        "거래대금은 평소의 6.52배, 매수 비중은 71.4%입니다.",
        True,
        "metrics with units and rounding",
    ),
    Case(
        "event",
        "ko",
        "이상 징후는 07:44 KST에 시작됐고 거래대금은 8.12억원으로 평소 1.24억원보다 많습니다.",
        True,
        "KST start time; M → 억원",
    ),
    Case(
        "event",
        "en",
        "XRP pumped +3.41% within 5 minutes on 6.52x normal value, with buyers at 71.4% of fills.",
        True,
        "metrics in English",
    ),
    Case("event", "en", "Peak change since the start was +3.9%; XRP now trades at 3,161 KRW.", True, "peak change"),
    Case(
        "event", "en", "Watch whether the buy share falls back towards balance.", True, "a watch item without figures"
    ),
    Case("event", "ko", "리플은 5분 동안 34.12% 급등했습니다.", False, "×10 slip"),
    Case("event", "ko", "거래대금이 평소의 65.2배로 폭증했습니다.", False, "×10 ratio"),
    Case("event", "en", "XRP dumped 3.41% in 5 minutes.", False, "flipped direction"),
    Case("event", "en", "The anomaly started at 22:44 KST.", False, "UTC time labelled KST"),
    Case("event", "en", "Buyers made up 17.4% of fills.", False, "swapped digits"),
    Case("event", "ko", "매수 비중은 0.714%입니다.", False, "percent written as a fraction"),
    Case("event", "en", "Watch whether the buy share falls back towards 50%.", False, "a level the data does not give"),
]
