"""An answer read as claims: each figure with the coin (or market) it is about, the fact it states, its window, unit
and direction, in Korean or English — plus the clock times and dates it states.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from llm import lexicon as lx
from llm.facts import MARKET, ContextFacts

_SENTENCE_RE = re.compile(r"(?<!\d)[.!?。](?!\d)|\n")
_RESPECTIVELY_RE = re.compile(r"각각|respectively", re.I)
_NON_CLAIM_AFTER_RE = re.compile(r"\s?(?:가지|번째 이유|차례|번\b|명|times\b|reasons?\b|things?\b|points?\b)")
_TOP_N_RE = re.compile(r"(?:상위|하위|top|bottom)\s?$", re.I)
_COVERAGE_NOTE_RE = re.compile(r"\([^)]*(?:데이터|of data)[^)]*\)|\b(?:from|covers?)\s+only\s+\d+\s*(?:s|min)\b")
_COVERAGE_WORDS_RE = re.compile(r"데이터|of data|분량|분치|coverage|covered|only|부분|만 반영|수집", re.I)


@dataclass
class Claim:
    """One figure an answer states."""

    text: str
    start: int
    end: int
    sentence: str
    entity: str | None  # symbol, MARKET, or None when the text names nothing
    entity_explicit: bool
    kind: str | None  # price / change / value / ratio / share / count / rank / list_size / time / date
    window: str | None
    sub: str | None
    unit: str  # pct / krw / x / num / time / date
    value: float  # unsigned magnitude (base units); minutes of day for times
    direction: int | None  # +1 up, -1 down, 0 flat, None unstated
    tol: float
    band: float | None = None
    approx: bool = False
    pct_point: bool = False
    zone: str | None = None
    glued: bool = False
    mentions: list[str] = field(default_factory=list)  # coins named in the sentence
    coverage_stated: bool = False
    contradicts: bool = False  # "+3.41% 하락": the sign and the direction word disagree

    @property
    def signed_value(self) -> float:
        return -self.value if self.direction == -1 else self.value


def read_answer(text: str, cf: ContextFacts) -> list[Claim]:
    """Every claim in `text` (see module docstring)."""
    ent_re = cf.entity_re()
    claims: list[Claim] = []
    carried: str | None = None
    pos = 0
    for part in _split_sentences(text):
        s_start = text.index(part, pos) if part else pos
        pos = s_start + len(part)
        sent = part
        mentions = [(m.start(), m.end(), cf.symbol_of(m.group(0))) for m in ent_re.finditer(sent)]
        mentions = [(a, b, s) for a, b, s in mentions if s]
        market_wide = bool(lx.MARKET_WIDE_RE.search(sent)) and not mentions
        stamps = lx.stamps(sent)
        skip = [(s.start, s.end) for s in stamps]
        skip += [(m.start(), m.end()) for m in lx.IDREF_RE.finditer(sent)]
        skip += [(a, b) for a, b, _ in mentions]
        for st in stamps:
            unit = "time" if st.minutes is not None else "date"
            value = float(st.minutes if st.minutes is not None else st.month_day[0] * 100 + st.month_day[1])  # type: ignore[index]
            claims.append(
                Claim(
                    st.text,
                    s_start + st.start,
                    s_start + st.end,
                    sent,
                    None,
                    False,
                    unit,
                    None,
                    None,
                    unit,
                    value,
                    None,
                    0.0,
                    zone=st.zone,
                )  # fmt: skip
            )
        toks = [t for t in lx.number_tokens(sent) if not any(a <= t.start < b for a, b in skip)]
        toks = [t for t in toks if not any(a <= t.end - 1 < b for a, b in skip)]
        sent_claims: list[Claim] = []
        prev_end = 0
        for i, t in enumerate(toks):
            before = sent[t.start - 1] if t.start else " "
            after = sent[t.end :]
            nxt = toks[i + 1].start if i + 1 < len(toks) else len(sent)
            label = sent[prev_end : t.start]
            if re.match(r"[A-Za-z_]", before):
                continue  # inside an identifier
            is_rank = t.unit == "num" and bool(lx.RANK_RE.match(after))
            if t.unit == "num" and not t.mag and (lx.SPAN_RE.match(after) or _NON_CLAIM_AFTER_RE.match(after)):
                continue  # "5분", "24h", "3가지": a window or a count of things, not a figure
            if t.unit == "num" and re.match(r"[A-Za-z]", after[:1] or " ") and not t.mag and not is_rank:
                continue
            prev_end = t.end
            tail = re.split(r"[,;(/]", sent[t.end : min(nxt, t.end + 14)], maxsplit=1)[0]
            own = lx.clause_before(label)
            kind, sub, unit = _kind(t, own[-40:], tail, after)
            explicit_kind = bool(lx.last_match(lx.KIND_RES, own[-40:]) or lx.first_match(lx.KIND_RES, tail))
            prev = sent_claims[-1] if sent_claims else None
            if kind is None and t.unit == "num" and not t.mag and _TOP_N_RE.search(label):
                kind = "list_size"
            wide_tail = lx.clause_after(re.split(r"[(]", sent[t.end : t.end + 28])[0])
            # "(5분치 데이터)" states a window's coverage; it is not the figure's window
            window = lx.nearest_window(
                _COVERAGE_NOTE_RE.sub("", own),
                _COVERAGE_NOTE_RE.sub("", wide_tail) if kind in ("change", "value") else "",
            )
            parallel = (
                prev is not None and prev.unit == unit and prev.kind not in ("count", "rank") and ";" not in label
            )
            if parallel and prev is not None and not explicit_kind and kind not in ("rank", "count"):
                # parallel figures ("매수 비중은 61%, 리플은 60%"): the kind and window carry over
                kind, sub = prev.kind, prev.sub
                window = window or prev.window
            count_tail = lx.clause_after(sent[t.end : t.end + 30]) if kind == "count" else tail
            word_dir = _direction(label, count_tail, prefer_label=kind == "count", span=30 if kind == "count" else 10)
            direction = t.sign if t.sign else word_dir
            if t.unit == "num" and not t.mag and kind is None and t.value <= 10 and t.value == int(t.value):
                kind = "count"  # a bare small integer states a count; it must be one the context has
            ent, explicit = _entity_for(t.start, t.end, sent, mentions, carried, market_wide)
            sent_claims.append(
                Claim(
                    text=t.text,
                    start=s_start + t.start,
                    end=s_start + t.end,
                    sentence=sent.strip(),
                    entity=ent,
                    entity_explicit=explicit,
                    kind=kind,
                    window=window,
                    sub=sub,
                    unit=unit,
                    value=t.value,
                    direction=direction,
                    tol=t.tol,
                    band=t.band,
                    approx=t.approx,
                    pct_point=t.pct_point,
                    glued=bool(lx.HANGUL_RE.match(before)),
                    mentions=[s for _, _, s in mentions if s],
                    coverage_stated=bool(_COVERAGE_WORDS_RE.search(sent)),
                    contradicts=bool(t.sign and word_dir not in (None, 0) and word_dir != t.sign),
                )
            )
        _respectively(sent, sent_claims, mentions)
        claims.extend(sent_claims)
        if mentions:
            carried = mentions[-1][2]
        elif market_wide:
            carried = MARKET
    return claims


def _split_sentences(text: str) -> list[str]:
    out: list[str] = []
    last = 0
    for m in _SENTENCE_RE.finditer(text):
        out.append(text[last : m.end()])
        last = m.end()
    out.append(text[last:])
    return [p for p in out if p]


def _entity_for(
    at: int, end: int, sent: str, mentions: list[tuple[int, int, str | None]], carried: str | None, market_wide: bool
) -> tuple[str | None, bool]:
    before = [s for a, _, s in mentions if a < at]
    if before:
        return before[-1], True
    after = [(a, s) for a, _, s in mentions if a >= end]
    if after and after[0][0] - end <= 16 and not re.search(r"[,;:]", sent[end : after[0][0]]):
        return after[0][1], True  # "up 1.2% for BTC"
    if market_wide:
        return MARKET, False
    return carried, False


def _respectively(sent: str, claims: list[Claim], mentions: list[tuple[int, int, str | None]]) -> None:
    """ "BTC와 ETH는 각각 4.47%, 0.13%": the figures go to the coins in the order they were named."""
    if not _RESPECTIVELY_RE.search(sent) or len(mentions) < 2:
        return
    syms = [s for _, _, s in mentions]
    for unit in {c.unit for c in claims}:
        same = [c for c in claims if c.unit == unit]
        if len(same) == len(syms):
            for c, s in zip(same, syms, strict=True):
                c.entity = s


def _kind(t: lx.NumTok, label: str, tail: str, after: str) -> tuple[str | None, str | None, str]:
    near_label = label
    metric = re.search(r"([a-z0-9_]+)=\s*$", label)
    if metric:  # "value_ratio=6.5" copied from the event's metrics
        key = metric.group(1)
        if "ratio" in key:
            return "ratio", None, "x"
        if key.endswith("_pct"):
            return ("share" if "share" in key else "change"), None, "pct"
        return ("value" if key.endswith("_krw") else None), None, "num" if not key.endswith("_krw") else "krw"
    if (
        t.unit == "num"
        and not t.mag
        and t.value == int(t.value)
        and (
            re.search(r"(?:\bup|\bdown|\bflat|\bof|상승|하락|보합|advancers|decliners)\s*$", label)
            or re.match(r"\s(?:of\b|are\b|were\b|markets\b|rose|fell|gained|declined)", after)
        )
    ):
        return "count", None, "num"
    if lx.RANK_RE.match(after) and t.unit == "num":
        return "rank", _list_name(near_label + " " + tail), "num"
    if t.unit == "num" and lx.COUNT_RE.match(after):
        word = lx.COUNT_RE.match(after).group(0).strip()  # type: ignore[union-attr]
        return "count", ("anomalies" if re.search(r"건|anomal", word) else None), "num"
    sub = lx.last_match(lx.SUB_RES, label[-11:])
    kind = lx.last_match(lx.KIND_RES, near_label)
    if kind is None:
        kind = lx.first_match(lx.KIND_RES, tail)
    if re.search(r"\brank\b|순위", near_label) and t.unit == "num":
        return "rank", _list_name(near_label + " " + tail), "num"
    if t.unit == "pct":
        if (
            kind == "share"
            or re.search(r"매수|buy|위치|position|지점|\bat\s*$", near_label, re.I)
            or re.search(r"^\s?(?:위치|지점|of (?:it|the range))", tail, re.I)
        ):
            return "share", sub, "pct"
        return "change", sub, "pct"
    if t.unit == "x":
        return "ratio", sub, "x"
    if kind in ("value", "price"):
        return kind, sub, "krw"
    if kind == "count" and t.unit == "num" and not t.mag:
        return "count", None, "num"
    if t.unit == "krw" or t.mag:
        return (("value" if t.mag in ("B", "T", "조") or t.value >= 1e10 else None), sub, "krw")
    return None, sub, "num"


_LISTS = (
    (re.compile(r"상승\s?(?:률\s?)?상위|상승률|gainers?", re.I), "gainers"),
    (re.compile(r"하락\s?(?:률\s?)?상위|하락률|losers?", re.I), "losers"),
    (re.compile(r"거래대금\s?상위|value leaders?|by value|거래대금", re.I), "value"),
    (re.compile(r"급변|movers?", re.I), "movers"),
)


def _list_name(text: str) -> str | None:
    """Which ranking a rank claim is about ("상승 상위 1위" → gainers)."""
    for rx, name in _LISTS:
        if rx.search(text):
            return name
    return None


def _direction(label: str, tail: str, *, prefer_label: bool = False, span: int = 10) -> int | None:
    """Direction words right after the figure (Korean verbs) win over those just before it (English verbs)."""
    order = ((False, label[-16:]), (True, tail[:span])) if prefer_label else ((True, tail[:span]), (False, label[-16:]))
    for is_tail, text in order:
        hits: list[tuple[int, int]] = []
        for rx, d in ((lx.UP_RE, 1), (lx.DOWN_RE, -1), (lx.FLAT_RE, 0)):
            for m in rx.finditer(text):
                hits.append((m.start(), d))
        if hits:
            # after the figure: the first word; before it: the last word
            return sorted(hits)[0][1] if is_tail else sorted(hits)[-1][1]
    return None
