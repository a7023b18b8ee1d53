"""The shared reading of figures in text: number tokens with their units, times, dates, codes and the words that name
a fact's kind, window and direction — used alike on the CONTEXT (facts) and on answers (claims).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Magnitudes in base units (won, plain).
MAGNITUDE: dict[str, float] = {
    "조": 1e12,
    "억": 1e8,
    "만": 1e4,
    "천": 1e3,
    "K": 1e3,
    "k": 1e3,
    "M": 1e6,
    "B": 1e9,
    "T": 1e12,
    "thousand": 1e3,
    "million": 1e6,
    "mn": 1e6,
    "billion": 1e9,
    "bn": 1e9,
    "trillion": 1e12,
}

# One number as written: sign, digits, magnitude, unit. A "-" right after a digit is a range ("1000-1100"), not a sign.
NUMBER_RE = re.compile(
    r"(?<![A-Za-z0-9_.,])(?P<approx>~|약\s?|about\s|around\s|roughly\s|approximately\s)?"
    r"(?P<sign>[+\-−–])?(?P<won>₩\s?)?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s?(?P<mag>조|억|만|천|thousand|million|billion|trillion|mn|bn|[KkMBT](?![A-Za-z])))?"
    r"(?P<tail>\s?(?:%p|%|％|퍼센트|포인트|percentage points?|percent|pct\b|x(?![A-Za-z])|×|배|times\b|원대|원|KRW|won|"
    r"대(?![가-힣])))?",
)

# A KST / UTC clock time or date as written in either language.
ISO_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:Z|[+-]\d{2}:?\d{2})?")
DATE_RE = re.compile(
    r"(?:(?P<y>\d{4})[-./년]\s?)?(?P<mo>\d{1,2})(?:월\s?|[-/])(?P<d>\d{1,2})일?(?![\d:])(?!\s?(?:%|분|시간|초))"
)
MD_HM_RE = re.compile(r"\b\d{2}-\d{2} \d{2}:\d{2}\b")  # candle rows: "11-29 11:25"
CLOCK_RE = re.compile(
    r"(?P<ampm>오전|오후|AM|PM|am|pm)?\s?(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?\s?(?P<zone>Z\b|UTC|KST|\(KST\)|\(UTC\))?"
)
KO_CLOCK_RE = re.compile(
    r"(?P<ampm>오전|오후)?\s?(?P<h>\d{1,2})시(?!간)\s?(?:(?P<m>\d{1,2})분)?(?:\s?(?P<zone>KST|UTC))?"
)
CODE_RE = re.compile(r"\b(?:KRW|BTC|USDT)-[A-Z0-9]{1,15}\b")
IDREF_RE = re.compile(r"#\d+")

# Time spans: a number followed by these is a window ("5분", "1h", "24 hours"), not a figure.
SPAN_RE = re.compile(
    r"\s?(?:초|분|시간|일간|일|주|개월|년|-(?:week|day|hour|minute|month|year)s?|"
    r"(?:s|sec|secs|seconds?|m|min|mins|minutes?|h|hrs?|hours?|d|days?|w|weeks?|months?|years?)(?![A-Za-z]))"
)
SPAN_SECONDS = {"초": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "분": 60, "h": 3600, "hr": 3600, "시간": 3600,
                "hour": 3600, "d": 86400, "day": 86400, "일": 86400, "일간": 86400}  # fmt: skip

RANK_RE = re.compile(r"\s?(?:위|번째|등|st|nd|rd|th)(?![A-Za-z])")
COUNT_RE = re.compile(
    r"\s?(?:개\s?(?:종목|코인|마켓)?|종목|건|곳|markets?|coins?|advancers?|decliners?|anomal(?:y|ies)|fills?|trades?)(?![A-Za-z])"
)

# Words that say which fact a figure is. Order matters: the first match in a phrase wins for its slot.
KIND_WORDS: list[tuple[str, str]] = [
    (r"buy share|매수\s?비중|매수세 비중|buy-side share|buyer share", "share"),
    (r"\bat\b(?=\s*\d+%)|위치|position|자리", "share"),
    (r"value|거래대금|거래액|traded|turnover|val\b|val24h|volume", "value"),
    (r"\bratio\b|배수|평소\s?대비|평균\s?대비|vs normal|of normal|versus normal|hourly avg", "ratio"),
    (r"가격|현재가|시세|price|trading at|trades at|종가|close|고가|저가|high|low|range|범위|52w|52주", "price"),
    (r"변동|등락|상승률|하락률|change|move|수익률|chg", "change"),
    (r"breadth|종목\s?수|상승\s?종목|하락\s?종목|보합\s?종목|advancers|decliners|markets|종목", "count"),
]
SUB_WORDS: list[tuple[str, str]] = [
    (r"buy share|buyers?|매수", "buy"),
    (r"52w|52주|52-week|52 week", "52w"),
    (r"prev(?:ious)? close|전일\s?종가|어제\s?종가|기준가", "prev_close"),
    (r"고가|high|고점|최고", "high"),
    (r"저가|low|저점|최저", "low"),
]
WINDOW_WORDS: list[tuple[str, str]] = [
    (
        r"vs prev close|since (?:the )?prev(?:ious)? close|prev close|전일\s?대비|전일\s?종가\s?대비|"
        r"어제\s?종가\s?대비|"
        r"since 09:00 KST|09시\s?이후|오전 9시\s?이후|오늘\s?(?:들어|하루)?|today|on the day|day'?s?\b|당일",
        "prev_close",
    ),
    (r"\b1\s?m\b|1분|1-minute|1 minute|last minute", "1m"),
    (r"\b5\s?m\b|5분|5-minute|5 minutes?|five minutes", "5m"),
    (r"\b1\s?h\b|1시간|한 시간|1-hour|1 hour|last hour|hourly|한시간", "1h"),
    (r"\b24\s?h\b|val24h|24시간|24-hour|24 hours|하루|rolling 24", "24h"),
]
UP_WORDS = (
    r"상승|올랐|오른|오르|올라|급등|반등|강세|뛰었|뛰어|플러스|rose|risen|rising|gained|gaining|gains?\b|jumped|"
    r"surged|climbed|rallied|\bup\b|higher|advanced|increase[ds]?|rebound|pumped|soared"
)
DOWN_WORDS = (
    r"하락|내렸|내린|내려|떨어졌|떨어진|떨어지|급락|폭락|약세|밀렸|빠졌|빠진|마이너스|fell|fallen|falling|dropped|"
    r"declined|lost|losing|slid|slipped|sank|plunged|tumbled|\bdown\b|lower|decrease[ds]?|dumped|crashed"
)
FLAT_WORDS = r"보합|변동\s?없|flat|unchanged"
UP_RE = re.compile(UP_WORDS, re.I)
DOWN_RE = re.compile(DOWN_WORDS, re.I)
FLAT_RE = re.compile(FLAT_WORDS, re.I)
KIND_RES = [(re.compile(p, re.I), k) for p, k in KIND_WORDS]
SUB_RES = [(re.compile(p, re.I), k) for p, k in SUB_WORDS]
WINDOW_RES = [(re.compile(p, re.I), k) for p, k in WINDOW_WORDS]
MARKET_WIDE_RE = re.compile(r"시장|전체|마켓\s?전반|market|breadth|overall|across|advancers|decliners|종목\s?수", re.I)
DERIVE_DIFF_RE = re.compile(r"차이|격차|더\s|앞섰|뒤졌|than|difference|gap|outperform|underperform|%p|포인트", re.I)
DERIVE_DIST_RE = re.compile(
    r"고점\s?대비|저점\s?대비|from (?:the |its )?(?:52-week |52w |day'?s? )?(?:high|low)|"
    r"below (?:the |its )?(?:high|52)|above (?:the |its )?(?:low|52)|아래|위에|남았|away",
    re.I,
)
BELOW_RE = re.compile(r"못 미|밑|아래|미만|below|under|short of|못 넘|넘지 못|not reached|hasn't reached", re.I)
ABOVE_RE = re.compile(r"위|넘|돌파|웃돌|above|over|beyond|exceed|broke", re.I)
HANGUL_RE = re.compile(r"[가-힣]")

# Coin names a writer uses that a context may not spell out (the context gives codes; answers say 비트코인).
MAJOR_ALIASES: dict[str, str] = {
    "비트코인": "BTC", "비트": "BTC", "bitcoin": "BTC", "이더리움": "ETH", "이더": "ETH", "ethereum": "ETH",
    "ether": "ETH", "리플": "XRP", "엑스알피": "XRP", "ripple": "XRP", "솔라나": "SOL", "solana": "SOL",
    "도지코인": "DOGE", "도지": "DOGE", "dogecoin": "DOGE", "에이다": "ADA", "cardano": "ADA", "트론": "TRX",
    "tron": "TRX", "웜홀": "W", "wormhole": "W",
}  # fmt: skip

KST = timedelta(hours=9)


@dataclass(frozen=True)
class NumTok:
    """One number token: its value in base units, the rounding its text shows, and what unit follows."""

    start: int
    end: int
    text: str  # sign + digits + magnitude + %/x (as the grounding issues name it)
    value: float  # unsigned, base units
    sign: int  # +1 / -1 written, 0 when no sign was written
    tol: float  # half a unit of the last written digit, base units
    unit: str  # pct / krw / x / num
    approx: bool
    band: float | None  # "9,400만원대": the value lies in [value, value + band)
    pct_point: bool
    mag: str = ""


def number_tokens(text: str) -> list[NumTok]:
    """Every number in `text` with its unit; merges Korean compounds ("1억 2,345만", "9,537만 1,000원")."""
    out: list[NumTok] = []
    for m in NUMBER_RE.finditer(text):
        raw = m.group("num")
        mag = m.group("mag")
        tail = (m.group("tail") or "").strip()
        decimals = len(raw.split(".", 1)[1]) if "." in raw else 0
        mantissa = float(raw.replace(",", ""))
        scale = MAGNITUDE.get(mag or "", 1.0)
        sign_s = m.group("sign")
        sign = 0 if sign_s is None else (1 if sign_s == "+" else -1)
        unit = "num"
        band = None
        if tail in ("%", "％", "퍼센트", "%p", "포인트", "percent", "pct") or tail.startswith("percentage"):
            unit = "pct"
        elif tail in ("x", "×", "배", "times"):
            unit = "x"
        elif tail in ("원", "KRW", "won", "원대", "대") or m.group("won"):
            unit = "krw"
        elif mag in ("조", "억", "만", "천"):
            unit = "krw"  # Korean magnitudes in our answers are money ("16.5억", "9,417만")
        if tail in ("원대", "대"):
            digits = raw.replace(",", "").split(".")[0]
            zeros = len(digits) - len(digits.rstrip("0"))
            band = (10.0**zeros) * scale if decimals == 0 else 10.0 ** (-decimals) * scale
        shown = (sign_s or "") + raw + (mag or "") + ("%" if unit == "pct" else "x" if unit == "x" else "")
        out.append(
            NumTok(
                start=m.start("sign") if sign_s else m.start("num") if not m.group("won") else m.start("won"),
                end=m.end(),
                text=shown.replace("−", "-").replace("–", "-"),
                value=mantissa * scale,
                sign=sign,
                tol=0.5 * 10.0 ** (-decimals) * scale,
                unit=unit,
                approx=m.group("approx") is not None,
                band=band,
                pct_point=tail in ("%p", "포인트") or tail.startswith("percentage"),
                mag=mag or "",
            )
        )
    return _merge_compounds(out, text)


def _merge_compounds(toks: list[NumTok], text: str) -> list[NumTok]:
    merged: list[NumTok] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if i + 1 < len(toks):
            n = toks[i + 1]
            gap = text[t.end : n.start]
            t_mag = MAGNITUDE.get(t.mag) if t.mag in ("조", "억", "만") and "." not in t.text else None
            n_ok = n.mag in ("", "억", "만", "천") and n.unit in ("krw", "num") and not n.approx
            if t_mag and gap.strip() == "" and len(gap) <= 1 and n.sign == 0 and n.value < t_mag and n_ok:
                merged.append(
                    NumTok(
                        t.start,
                        n.end,
                        text[t.start : n.end].strip(),
                        t.value + n.value,
                        t.sign,
                        n.tol,
                        "krw",
                        t.approx,
                        n.band,
                        False,
                        t.mag,
                    )  # fmt: skip
                )
                i += 2
                continue
        merged.append(t)
        i += 1
    return merged


@dataclass(frozen=True)
class Stamp:
    """A clock time or date written in a text (its span, and the minutes-of-day / date it names)."""

    start: int
    end: int
    text: str
    minutes: int | None  # minutes after midnight
    zone: str | None  # "UTC", "KST" or None when not written
    month_day: tuple[int, int] | None


def stamps(text: str) -> list[Stamp]:
    """Times and dates in `text`: ISO timestamps (UTC), "HH:MMZ", "20:29 KST", "오후 8시 29분", "11월 29일"."""
    out: list[Stamp] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for m in ISO_RE.finditer(text):
        dt = _parse_iso(m.group(0))
        mins = dt.hour * 60 + dt.minute if dt else None
        md = (dt.month, dt.day) if dt else None
        out.append(Stamp(m.start(), m.end(), m.group(0), mins, "UTC", md))
        taken.append((m.start(), m.end()))
    for m in MD_HM_RE.finditer(text):
        if free(m.start(), m.end()):
            mo, d = int(m.group(0)[:2]), int(m.group(0)[3:5])
            h, mi = int(m.group(0)[6:8]), int(m.group(0)[9:11])
            out.append(Stamp(m.start(), m.end(), m.group(0), h * 60 + mi, "UTC", (mo, d)))
            taken.append((m.start(), m.end()))
    for m in CLOCK_RE.finditer(text):
        if not free(m.start("h"), m.end()):
            continue
        h, mi = int(m.group("h")), int(m.group("m"))
        if h > 24 or mi > 59:
            continue
        if m.group("ampm") in ("오후", "PM", "pm") and h < 12:
            h += 12
        zone = (m.group("zone") or "").strip("()") or None
        zone = "UTC" if zone == "Z" else zone
        if zone is None and re.match(r"\s?(?:KST|한국\s?시간|\(KST\))", text[m.end() :]):
            zone = "KST"
        s = m.start("ampm") if m.group("ampm") else m.start("h")
        out.append(Stamp(s, m.end(), text[s : m.end()].strip(), h * 60 + mi, zone, None))
        taken.append((s, m.end()))
    for m in KO_CLOCK_RE.finditer(text):
        if not free(m.start("h"), m.end()) or not m.group("h"):
            continue
        h, mi = int(m.group("h")), int(m.group("m") or 0)
        if h > 24 or mi > 59:
            continue
        if m.group("ampm") == "오후" and h < 12:
            h += 12
        s = m.start("ampm") if m.group("ampm") else m.start("h")
        zone = m.group("zone") or ("KST" if m.group("ampm") else None)
        out.append(Stamp(s, m.end(), text[s : m.end()].strip(), h * 60 + mi, zone, None))
        taken.append((s, m.end()))
    for m in DATE_RE.finditer(text):
        if not free(m.start(), m.end()):
            continue
        raw = m.group(0)
        if not re.search(r"월|년|[-/.]", raw) or re.fullmatch(r"\d{1,2}[-/.]\d{1,2}", raw.strip()) and "/" not in raw:
            continue  # "1000-1100" style ranges are not dates
        mo, d = int(m.group("mo")), int(m.group("d"))
        if not (1 <= mo <= 12 and 1 <= d <= 31):
            continue
        out.append(Stamp(m.start(), m.end(), raw.strip(), None, None, (mo, d)))
        taken.append((m.start(), m.end()))
    return sorted(out, key=lambda s: s.start)


def _parse_iso(text: str) -> datetime | None:
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def kst_minutes(utc_minutes: int) -> int:
    return (utc_minutes + 9 * 60) % (24 * 60)


_COMBINED: dict[int, tuple[re.Pattern[str], list[str]]] = {}


def _combined(regexes: list[tuple[re.Pattern[str], str]]) -> tuple[re.Pattern[str], list[str]]:
    """One alternation per word table (one scan instead of one per entry)."""
    key = id(regexes)
    if key not in _COMBINED:
        alts = "|".join(f"(?P<g{i}>{rx.pattern})" for i, (rx, _) in enumerate(regexes))
        _COMBINED[key] = (re.compile(alts, re.I), [v for _, v in regexes])
    return _COMBINED[key]


def last_match(regexes: list[tuple[re.Pattern[str], str]], text: str) -> str | None:
    """The slot value of the match nearest the end of `text` (the words closest before a number)."""
    rx, values = _combined(regexes)
    best: tuple[int, str] | None = None
    for m in rx.finditer(text):
        if best is None or m.end() >= best[0]:
            best = (m.end(), values[int((m.lastgroup or "g0")[1:])])
    return best[1] if best else None


CLAUSE_RE = re.compile(r"[,;:]|\b(?:and|but|while|whereas)\b|고\s|며\s|지만|는데|으며", re.I)


def clause_before(label: str) -> str:
    """The words since the last clause boundary (what the figure's own clause says before it)."""
    parts = CLAUSE_RE.split(label)
    return parts[-1] if parts else label


def clause_after(tail: str) -> str:
    return CLAUSE_RE.split(tail, maxsplit=1)[0]


def nearest_window(label: str, tail: str) -> str | None:
    """The window word closest to a figure: the last one before it or the first one after it."""
    best: tuple[int, str] | None = None
    for rx, value in WINDOW_RES:
        for m in rx.finditer(label):
            d = len(label) - m.end()
            if best is None or d < best[0]:
                best = (d, value)
        for m2 in rx.finditer(tail):
            if re.match(r"\s*(?:[+\-−]?\d|n/a)", tail[m2.end() :]):
                continue  # "5m -1.19%": a window word followed by a figure labels that figure
            if best is None or m2.start() < best[0]:
                best = (m2.start(), value)
            break
    return best[1] if best else None


def first_match(regexes: list[tuple[re.Pattern[str], str]], text: str) -> str | None:
    best: tuple[int, str] | None = None
    for rx, value in regexes:
        m = rx.search(text)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), value)
    return best[1] if best else None
