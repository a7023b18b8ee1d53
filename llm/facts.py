"""The facts a CONTEXT states, read from the very text the model was given: each figure with its entity (coin or the
market), kind, window, unit and rounding; plus the list ranks, clock times, dates and coin names it contains.

Contexts are rendered by analytics/*.to_context() as labelled lines ("price 97554000 KRW; change 1m -0.50% 5m ..."),
so reading them back needs no side channel: what is verified is exactly what the model saw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from llm import lexicon as lx

MARKET = "MARKET"
_NOT_SYMBOLS = frozenset({"KRW", "UTC", "KST", "EVENT", "STALE", "USDT", "API", "OK"})
_SEGMENT_RE = re.compile(r"(?:,|;|:)\s+|\s=\s")
_SYMBOL_AT_START_RE = re.compile(
    r"^\s*(?:#\d+\s+)?(?:(?:KRW|BTC|USDT)-)?([A-Z][A-Z0-9]{0,11})(?=\s+(?:[가-힣]|[+\-]?\d|pump|dump))"
)
_NAME_AFTER_CODE_RE = re.compile(
    r"\b(?:(?:KRW|BTC|USDT)-)?([A-Z][A-Z0-9]{0,11})\s+([가-힣][가-힣 ]*?)(?:/([A-Za-z][A-Za-z0-9 .]*?))?"
    r"(?=\s+(?:[+\-]?\d|as of)|$)"
)
_ANOMALY_RE = re.compile(
    r"#\d+ (?:(?:KRW|BTC|USDT)-)?([A-Z0-9]+) (pump|dump|price_jump|value_spike|volume_spike|buy_burst|caution_flag)\b"
)
_COVERAGE_RE = re.compile(r"\((\d+) (s|min) of data\)")
_COUNT_LABEL_RE = re.compile(r"(?:\b(up|down|flat|of)|(open anomalies|anomalies|markets))\s*$")
_COUNT_AFTER_RE = re.compile(r"^\s*(markets|anomalies|fills)\b")
_LIST_HEADERS = {"gainers": "gainers", "losers": "losers", "value leaders": "value", "movers": "movers", "top ": "top"}


@dataclass(frozen=True)
class Fact:
    """One figure of the context."""

    id: str  # "L3#2": line 3, second figure (stable for one context text)
    entity: str  # coin symbol (BTC) or MARKET
    kind: str  # price / change / value / ratio / share / count / rank / metric
    window: str | None  # prev_close / 1m / 5m / 1h / 24h / None
    sub: str | None  # prev_close / high / low / 52w / up / down / flat / total / list name ...
    unit: str  # pct / krw / x / num
    value: float  # signed, base units
    tol: float  # the rounding shown
    text: str  # the figure as written
    coverage_s: float | None = None  # the window is covered by this many seconds of data only

    def describe(self) -> str:
        where = "market" if self.entity == MARKET else self.entity
        what = " ".join(x for x in (self.window, self.sub, self.kind) if x)
        return f"{where} {what} {self.text} [{self.id}]"

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "entity": self.entity, "kind": self.kind, "window": self.window, "sub": self.sub,
                "unit": self.unit, "value": self.value, "text": self.text}  # fmt: skip


@dataclass
class ContextFacts:
    facts: list[Fact] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # lower-case name → symbol
    symbols: set[str] = field(default_factory=set)
    utc_minutes: set[int] = field(default_factory=set)
    dates: set[tuple[int, int]] = field(default_factory=set)
    list_sizes: list[int] = field(default_factory=list)
    anomaly_kinds: dict[str, set[str]] = field(default_factory=dict)  # symbol → kinds of its anomalies in the text
    text: str = ""  # the context itself, for checks that read labelled lines (indicator readings)
    _entity_re: re.Pattern[str] | None = None

    def entity_re(self) -> re.Pattern[str]:
        if self._entity_re is None:
            self._entity_re = self._build_entity_re()
        return self._entity_re

    def _build_entity_re(self) -> re.Pattern[str]:
        names = sorted({*self.aliases, *(s.lower() for s in self.symbols)}, key=len, reverse=True)
        alts = "|".join(re.escape(n) for n in names if n)
        return re.compile(rf"(?:(?:KRW|BTC|USDT)-)?(?<![A-Za-z0-9가-힣])(?:{alts})(?![A-Za-z0-9])", re.I)

    def symbol_of(self, mention: str) -> str | None:
        m = mention.strip()
        m = re.sub(r"^(?:KRW|BTC|USDT)-", "", m)
        if m.upper() in self.symbols:
            return m.upper()
        return self.aliases.get(m.lower())


@lru_cache(maxsize=64)
def read_context(text: str) -> ContextFacts:
    """Every fact of a context text (see module docstring). Cached: one context is checked against many answers."""
    cf = ContextFacts(text=text)
    cf.aliases.update({k.lower(): v for k, v in lx.MAJOR_ALIASES.items()})
    for m in lx.CODE_RE.finditer(text):
        cf.symbols.add(m.group(0).split("-", 1)[1])
    for line in text.splitlines():
        for seg in _SEGMENT_RE.split(line):
            sm = _SYMBOL_AT_START_RE.match(seg)
            if sm and sm.group(1) not in _NOT_SYMBOLS:
                cf.symbols.add(sm.group(1))
        for m in _NAME_AFTER_CODE_RE.finditer(line):
            sym = m.group(1)
            if sym in cf.symbols:
                cf.aliases[m.group(2).strip().lower()] = sym
                if m.group(3):
                    cf.aliases[m.group(3).strip().lower()] = sym
    for st in lx.stamps(text):
        if st.minutes is not None:
            cf.utc_minutes.add(st.minutes if st.zone != "KST" else (st.minutes - 540) % 1440)
        if st.month_day is not None:
            cf.dates.add(st.month_day)
            if st.minutes is not None and st.minutes + 540 >= 1440:
                cf.dates.add(_next_day(st.month_day))
    for m in _ANOMALY_RE.finditer(text):
        cf.anomaly_kinds.setdefault(m.group(1), set()).add(m.group(2))
    ent_re = cf.entity_re()
    block_entity = MARKET
    block_window: str | None = None
    block_list: str | None = None
    rank = 0
    for ln, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            block_entity, block_window, block_list, rank = MARKET, None, None, 0
            continue
        head = re.match(r"^(?:EVENT #\d+ )?((?:KRW|BTC|USDT)-[A-Z0-9]+)\b", line)
        if head:
            block_entity = head.group(1).split("-", 1)[1]
        elif line.startswith("Upbit "):
            block_entity = MARKET
        elif line.startswith("top "):
            block_window = lx.last_match(lx.WINDOW_RES, line.split(" as of")[0])
            block_list = "top"
            rank = 0
            continue
        _read_line(cf, ln, line, ent_re, block_entity, block_window, block_list, rank)
        if block_list and not head:
            rank += 1
    return cf


def _next_day(md: tuple[int, int]) -> tuple[int, int]:
    mo, d = md
    days = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[mo - 1]
    return (mo, d + 1) if d < days else (mo % 12 + 1, 1)


def _read_line(
    cf: ContextFacts,
    ln: int,
    line: str,
    ent_re: re.Pattern[str],
    block_entity: str,
    block_window: str | None,
    block_list: str | None,
    block_rank: int,
) -> None:
    header, _, rest = line.partition(": ")
    list_name = next((v for k, v in _LIST_HEADERS.items() if header.startswith(k)), None) if rest else None
    header_window = lx.last_match(lx.WINDOW_RES, header) if list_name else None
    if list_name:
        cf.list_sizes.append(len(re.split(r",\s+", rest)))
    if block_list and not list_name:
        list_name, header_window = block_list, block_window
        cf.list_sizes.append(block_rank + 1)
    skip = [(s.start, s.end) for s in lx.stamps(line)]
    skip += [(m.start(), m.end()) for m in lx.IDREF_RE.finditer(line)]
    skip += [(m.start(), m.end()) for m in lx.CODE_RE.finditer(line)]
    cov_spans = [
        (m.start(), m.end(), int(m.group(1)) * (1 if m.group(2) == "s" else 60)) for m in _COVERAGE_RE.finditer(line)
    ]
    skip += [(a, b) for a, b, _ in cov_spans]
    seg_bounds = [0, *(m.end() for m in _SEGMENT_RE.finditer(line)), len(line) + 1]
    toks = [t for t in lx.number_tokens(line) if not any(a <= t.start < b for a, b in skip)]
    n = 0
    item_index = -1
    for si in range(len(seg_bounds) - 1):
        s0, s1 = seg_bounds[si], seg_bounds[si + 1]
        seg = line[s0:s1]
        ent_m = ent_re.search(seg)
        seg_entity = cf.symbol_of(ent_m.group(0)) if ent_m and (ent_m.start() < 3 or block_entity == MARKET) else None
        entity = seg_entity or block_entity
        in_list = list_name is not None and (si > 0 or not rest) and seg_entity is not None
        if in_list:
            item_index += 1
        prev_end = s0
        first_plain = True
        for t in (t for t in toks if s0 <= t.start < s1):
            before = line[t.start - 1] if t.start else " "
            if re.match(r"[A-Za-z_=]", before) and not line[: t.start].endswith("="):
                continue  # part of an identifier (val24h, acc_trade_price_24h, 52w)
            after = line[t.end :]
            if (
                t.unit == "num"
                and not t.mag
                and lx.SPAN_RE.match(after)
                and not re.match(r"\s?(?:markets|m\b)", after[:3])
                or (t.unit == "num" and re.match(r"[A-Za-z]", after[:1] or " ") and not t.mag)
            ):
                continue  # "14s", "5m", "8 min": a time span, not a figure
            label = line[prev_end : t.start]
            prev_end = t.end
            n += 1
            fid = f"L{ln}#{n}"
            window = lx.last_match(lx.WINDOW_RES, label) or lx.last_match(lx.WINDOW_RES, seg[: t.start - s0])
            cov = next((c for a, b, c in cov_spans if a >= s0 and b <= t.start), None)
            kind, sub, unit = _kind_of(t, label, seg[: t.start - s0], after, header if rest and not list_name else "")
            if kind == "change" and re.search(r"_(\d+[mh])_", label):
                window = re.search(r"_(\d+[mh])_", label).group(1)  # type: ignore[union-attr]
            if t.unit == "num" and kind in ("price", "value"):
                unit = "krw"
            if kind in ("price",) and unit == "num":
                unit = "krw"
            first_plain = first_plain and t.unit != "num"
            if kind == "change" and re.search(r"[a-z_]+=$", label):
                pass  # an event metric: its window is the event's window_seconds, not a context default
            elif kind == "change" and (window is None or (list_name == "value" and window == header_window)):
                window = (header_window if list_name != "value" else None) or block_window or "prev_close"
            if kind == "value" and window is None:
                window = header_window or block_window
            entity_f = MARKET if kind == "count" else entity
            value = -t.value if t.sign < 0 else t.value
            if (
                t.start > 0
                and line[t.start - 1] == "-"
                and t.sign == 0
                and not re.match(r"\d", line[t.start - 2 : t.start - 1] or "x")
            ):
                value = -value
            cf.facts.append(Fact(fid, entity_f, kind, window, sub, unit, value, t.tol, t.text, cov))
        if in_list and seg_entity is not None:
            cf.facts.append(
                Fact(
                    f"L{ln}#r{item_index + 1 + block_rank}",
                    seg_entity,
                    "rank",
                    header_window,
                    list_name,
                    "num",
                    float(item_index + 1 + block_rank),
                    0.0,
                    f"#{item_index + 1 + block_rank} in {list_name}",
                )  # fmt: skip
            )


def _kind_of(t: lx.NumTok, label: str, seg_before: str, after: str, header: str) -> tuple[str, str | None, str]:
    """The kind (and sub-kind) of a context figure from its unit and the words before it."""
    sub = lx.last_match(lx.SUB_RES, label)
    metric = re.search(r"([a-z0-9_]+)=$", label)
    if metric:
        key = metric.group(1)
        if key.endswith("_pct"):
            return ("share", "buy" if "buy" in key else None, "pct") if "share" in key else ("change", None, "pct")
        if "ratio" in key:
            return "ratio", None, "x"
        if key.endswith("_krw"):
            return "value", None, "krw"
        if key.startswith("markets_") or key in ("fills", "orders"):
            return "count", key, "num"
        return "metric", key, "num"
    if t.unit == "pct":
        if re.search(r"\bat\s*$|share|position", label):
            where = "buy" if "buy" in label else "day" if "day" in seg_before else "52w" if "52w" in seg_before else sub
            return "share", where, "pct"
        return "change", None, "pct"
    if t.unit == "x":
        return "ratio", ("bid_ask" if "bid/ask" in label else None), "x"
    cm = _COUNT_LABEL_RE.search(label)
    if cm or _COUNT_AFTER_RE.match(after):
        word = (cm.group(1) or cm.group(2)) if cm else _COUNT_AFTER_RE.match(after).group(1)  # type: ignore[union-attr]
        return "count", {"of": "total"}.get(word, word), "num"
    kind = lx.last_match(lx.KIND_RES, label)
    if kind == "value" or (kind is None and (re.search(r"val|value", seg_before + " " + header) or t.mag)):
        return "value", None, "krw"
    if re.match(r"-\d", after) or label.strip() == "-":
        scope = "52w" if "52w" in seg_before else "day"
        return "price", f"{scope}_{'high' if label.strip() == '-' else 'low'}", "krw"
    if sub == "prev_close":
        return "price", "prev_close", "krw"
    return "price", None, t.unit
