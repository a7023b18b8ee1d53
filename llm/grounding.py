"""The former grounding check (a bag of numbers): every number in an answer must match some number of the context.

Superseded by claim-level verification (llm/verify.py, docs/truth.md), which also checks the coin, kind, window,
unit and direction of each figure; kept as the baseline `bench truth` measures against.

Understands percentages, KRW amounts with thousands separators, Korean units (만, 억, 조, and "1억 2,345만"),
English magnitudes (K/M/B/T, million/billion), explicit signs (+, -, −) and skips what is not a measured figure:
dates and clock times, market codes (KRW-1INCH), time spans ("5분", "24h", "5 minutes") and small counts (≤ 10).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_UNITS: dict[str, float] = {
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
    "billion": 1e9,
    "trillion": 1e12,
    "x": 1.0,  # ratios: "1.05x", "3.2배"
    "배": 1.0,
}

# Dates, clock times and market codes are removed before numbers are read.
_STRIP_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"|\b\d{1,2}:\d{2}(?::\d{2})?\b"
    r"|\b[A-Z]{2,5}-[A-Z0-9]{1,15}\b"
)

_NUM_RE = re.compile(
    r"(?:(?<![\w.])(?P<sign>[+\-−–]))?"
    r"(?<![\w.,])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:\s?(?P<unit>%p|%|퍼센트|조|억|만|천|배|thousand|million|billion|trillion|[KkMBTx](?![A-Za-z])))?"
)

# A number followed by one of these is a time span, rank, date part or ordinal, not a measured figure.
_SKIP_AFTER_RE = re.compile(
    r"\s?(?:초|분|시간|시|일|주|개월|월|년|위|번째|차|"
    r"(?:s|sec|secs|seconds?|m|min|mins|minutes?|h|hrs?|hours?|d|days?|weeks?|months?|years?|st|nd|rd|th)\b)"
)


@dataclass(frozen=True)
class Number:
    """One number as written in a text."""

    text: str
    value: float  # magnitude in base units (won, percent points, plain)
    negative: bool
    signed: bool  # an explicit + or − was written
    percent: bool
    tolerance: float  # half a unit of the last written digit, in base units

    @property
    def signed_value(self) -> float:
        return -self.value if self.negative else self.value


@dataclass(frozen=True)
class GroundingIssue:
    text: str
    value: float
    nearest: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "value": self.value, "nearest_in_context": self.nearest}


@dataclass
class GroundingReport:
    checked: int
    issues: list[GroundingIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    def as_list(self) -> list[dict[str, Any]]:
        return [i.as_dict() for i in self.issues]

    def describe(self) -> str:
        """The mismatch named for the regeneration prompt."""
        parts = []
        for issue in self.issues:
            near = f" (closest figure in the context: {_fmt(issue.nearest)})" if issue.nearest is not None else ""
            parts.append(f'"{issue.text}"{near}')
        return "; ".join(parts)


def extract_numbers(text: str, *, skip_structural: bool = True) -> list[Number]:
    """Numbers in `text`. With skip_structural, dates, codes, time spans and identifiers are left out."""
    cleaned = _STRIP_RE.sub(" ", text) if skip_structural else text
    found: list[tuple[int, int, Number, str | None]] = []
    for m in _NUM_RE.finditer(cleaned):
        raw = m.group("num")
        unit = m.group("unit")
        after = cleaned[m.end() :]
        if skip_structural and unit is None:
            if _SKIP_AFTER_RE.match(after):
                continue
            if re.match(r"[A-Za-z]", after):  # 1INCH, 3D, ... identifiers rather than figures
                continue
        decimals = len(raw.split(".", 1)[1]) if "." in raw else 0
        mantissa = float(raw.replace(",", ""))
        scale = _UNITS.get(unit or "", 1.0)
        sign = m.group("sign")
        number = Number(
            text=m.group(0).strip(),
            value=mantissa * scale,
            negative=sign is not None and sign != "+",
            signed=sign is not None,
            percent=unit in ("%", "%p", "퍼센트"),
            tolerance=0.5 * 10.0 ** (-decimals) * scale,
        )
        found.append((m.start(), m.end(), number, unit))
    return _merge_compound_korean(found, cleaned)


def _merge_compound_korean(found: list[tuple[int, int, Number, str | None]], text: str) -> list[Number]:
    """ "1억 2,345만" and "9,537만 1,000" are one amount: a 조/억/만 figure directly followed by a smaller one."""
    out: list[Number] = []
    i = 0
    while i < len(found):
        start, end, num, unit = found[i]
        if i + 1 < len(found) and unit in ("조", "억", "만"):
            nstart, nend, nxt, nunit = found[i + 1]
            smaller = (nunit in ("억", "만", "천") and _UNITS[nunit] < _UNITS[unit]) or (
                nunit is None and not nxt.signed and nxt.value < _UNITS[unit]  # "9,537만 1,000원"
            )
            if smaller and not text[end:nstart].strip():
                out.append(
                    Number(
                        text=text[start:nend].strip(),
                        value=num.value + nxt.value,
                        negative=num.negative,
                        signed=num.signed,
                        percent=False,
                        tolerance=nxt.tolerance,
                    )
                )
                i += 2
                continue
        out.append(num)
        i += 1
    return out


def context_numbers(context: Any) -> list[float]:
    """Every number the model was given: JSON values and numbers written inside context strings."""
    values: list[float] = []

    def walk(node: Any) -> None:
        if isinstance(node, bool) or node is None:
            return
        if isinstance(node, int | float):
            if math.isfinite(float(node)):
                values.append(float(node))
        elif isinstance(node, str):
            values.extend(n.signed_value for n in extract_numbers(node, skip_structural=False))
        elif isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list | tuple):
            for v in node:
                walk(v)
        elif hasattr(node, "model_dump"):
            walk(node.model_dump(mode="json"))

    walk(context)
    return values


def _matches(number: Number, reference: float) -> bool:
    candidates = [reference]
    if number.percent and 0 < abs(reference) < 1:
        candidates.append(reference * 100.0)  # a fraction (Upbit's change_rate) written as a percentage
    for cand in candidates:
        target = cand if number.signed else abs(cand)
        value = number.signed_value if number.signed else number.value
        slack = number.tolerance + 1e-9 * max(abs(target), 1.0)
        if abs(value - target) <= slack:
            return True
        # Truncation ("about 1.2억" for 1.26억) is also within the written precision.
        if (not number.signed or (value < 0) == (target < 0)) and abs(value) <= abs(target) < abs(value) + 2 * slack:
            return True
    return False


def check(answer: str, context: Any, *, extra_allowed: Iterable[str] = ()) -> GroundingReport:
    """Compare every number in `answer` with the numbers in `context` (plus those in e.g. the user's question)."""
    refs = context_numbers(context)
    for text in extra_allowed:
        refs.extend(n.signed_value for n in extract_numbers(text, skip_structural=False))
    numbers = extract_numbers(answer)
    issues: list[GroundingIssue] = []
    checked = 0
    for number in numbers:
        if not number.percent and not number.signed and number.value <= 10 and number.value == int(number.value):
            if number.tolerance >= 0.5 and number.tolerance < 1.0:  # a small whole count: "top 3", "2 coins"
                continue
        checked += 1
        if any(_matches(number, ref) for ref in refs):
            continue
        nearest = min(refs, key=lambda r: _distance(number, r)) if refs else None
        issues.append(GroundingIssue(text=number.text, value=number.signed_value, nearest=nearest))
    return GroundingReport(checked=checked, issues=issues)


def _distance(number: Number, ref: float) -> float:
    cands = [ref, ref * 100.0] if number.percent else [ref]
    return min(abs(abs(number.value) - abs(c)) / max(abs(c), 1e-12) for c in cands)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.6g}"
