"""Claim-level verification: an answer passes only when every claim it makes matches a fact of the context it was
given — same coin (or market), kind, window, unit and direction, within the rounding the answer shows — or is one of
the supported derivations recomputed from context facts (docs/truth.md lists them).

A failed claim is named with the likely slip (×10, a flipped direction, another coin's figure, swapped digits, a
number read from a clock time, a number echoed from the question), which is what the regeneration prompt says.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any

from llm import lexicon as lx
from llm.claims import Claim, read_answer
from llm.facts import MARKET, ContextFacts, Fact, read_context
from llm.indicator_facts import rsi_issues

PRICE_LIKE = ("price", "value")
# What every surface shows next to a text whose figures did not pass verification (docs/truth.md).
UNVERIFIED_MARK = "⚠️ 수치 미검증 · numbers not verified"
_ROUND_LEVEL_RE = re.compile(r"[+-]?[1-9]0*[조억만KMBT]?")


@dataclass
class Checked:
    claim: Claim
    fact: Fact | None
    derived: str | None = None  # how a derived number was recomputed
    issue: str | None = None

    def as_dict(self) -> dict[str, Any]:
        c = self.claim
        return {
            "text": c.text,
            "entity": c.entity,
            "kind": c.kind or (self.fact.kind if self.fact else None),
            "window": c.window,
            "unit": c.unit,
            "value": c.signed_value if c.unit == "pct" and c.direction is not None else c.value,
            "direction": c.direction,
            "matched_fact": self.fact.as_dict() if self.fact else None,
            "derived": self.derived,
            "issue": self.issue,
        }


@dataclass
class VerifyReport:
    checked: list[Checked] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # issues not tied to one figure
    flagged: list[tuple[str, str]] = field(default_factory=list)  # (text, reason) found by label checks (RSI)

    @property
    def ok(self) -> bool:
        return not self.notes and not self.flagged and all(c.issue is None for c in self.checked)

    @property
    def issues(self) -> list[dict[str, Any]]:
        out = [{"text": c.claim.text, "reason": c.issue, "sentence": c.claim.sentence[:160]}
               for c in self.checked if c.issue]  # fmt: skip
        out += [{"text": text, "reason": reason, "sentence": ""} for text, reason in self.flagged]
        out += [{"text": "", "reason": n, "sentence": ""} for n in self.notes]
        return out

    def as_list(self) -> list[dict[str, Any]]:
        """The issues (what llm_results.grounding_issues stores)."""
        return self.issues

    def describe(self) -> str:
        """The mismatches named for the regeneration prompt."""
        return "; ".join(f'"{i["text"]}": {i["reason"]}' if i["text"] else str(i["reason"]) for i in self.issues)

    def as_dict(self) -> dict[str, Any]:
        return {"grounded": self.ok, "claims": [c.as_dict() for c in self.checked], "issues": self.issues}


def verify(answer: str, context: str | ContextFacts, *, question: str | None = None) -> VerifyReport:
    """Check every claim of `answer` against the facts of `context` (the text the model was given)."""
    cf = context if isinstance(context, ContextFacts) else read_context(context)
    q_values = [t.value for t in lx.number_tokens(question or "")]
    report = VerifyReport()
    for claim in read_answer(answer, cf):
        report.checked.append(_check(claim, cf, q_values))
    ent_re = cf.entity_re()
    _check_anomaly_words(answer, cf, ent_re, report)
    for m in re.finditer(r"(\S+?)\s?\(((?:KRW|BTC|USDT)-[A-Z0-9]+)\)", answer):
        names = [cf.symbol_of(x.group(0)) for x in ent_re.finditer(m.group(1))]
        code = cf.symbol_of(m.group(2))
        if names and code and names[-1] != code:
            report.notes.append(f"{m.group(0)}: the coin name and the market code disagree")
    _check_breadth_tone(answer, report)
    # Indicator readings: a stated RSI must be the context's RSI for the interval it names (llm.indicator_facts).
    for issue in rsi_issues(answer, cf.text):
        near = "" if issue.nearest is None else f" (the context says {issue.nearest:g})"
        report.flagged.append((issue.text, f"not the context's RSI for that interval{near}"))
    return report


def verify_fields(fields: dict[str, str | list[str]], context: str, *, question: str | None = None) -> VerifyReport:
    """Every string field of a structured answer (e.g. an interpretation's text and watch_next items)."""
    cf = read_context(context)
    report = VerifyReport()
    for name, value in fields.items():
        for i, text in enumerate([value] if isinstance(value, str) else value):
            sub = verify(text, cf, question=question)
            for c in sub.checked:
                if c.issue:
                    c.issue = f"{c.issue} (in {name}{'' if isinstance(value, str) else f'[{i}]'})"
            report.checked.extend(sub.checked)
            report.notes.extend(sub.notes)
            report.flagged.extend(sub.flagged)
    return report


# Where a sentence ends for the label checks below (not a decimal point: "3.2%").
_SENTENCE_END = re.compile(r"(?<!\d)[.!?\n]")
_TONE = re.compile(r"(상승|하락)\s?우위|(advancers|decliners|gainers|losers)\s+(?:lead|outnumber|dominate)", re.I)
# A count, not a percent or a price: "상승 20", "하락 10개", "up 20" — never "up 3.2%".
_COUNT = r"\s*(\d[\d,]*)(?![\d,]*(?:\.\d|\s?%|\s?원))"
_UP_COUNT = re.compile(r"(?:상승|advancers|gainers|\bup)" + _COUNT, re.I)
_DOWN_COUNT = re.compile(r"(?:하락|decliners|losers|\bdown)" + _COUNT, re.I)


def _check_breadth_tone(answer: str, report: VerifyReport) -> None:
    """ "하락 우위입니다(상승 20, 하락 10)": a breadth tone that its own counts contradict. Each count is checked
    against the context as a number; this checks the word that sums them up against those counts."""
    for sentence in _SENTENCE_END.split(answer):
        tone = _TONE.search(sentence)
        if tone is None:
            continue
        after = sentence[tone.end() :]
        up, down = _UP_COUNT.search(after), _DOWN_COUNT.search(after)
        if up is None or down is None:
            up, down = _UP_COUNT.search(sentence[: tone.start()]), _DOWN_COUNT.search(sentence[: tone.start()])
        if up is None or down is None:
            continue
        n_up, n_down = int(up.group(1).replace(",", "")), int(down.group(1).replace(",", ""))
        word = (tone.group(1) or tone.group(2) or "").lower()
        says_up = word in ("상승", "advancers", "gainers")
        if (says_up and n_up <= n_down) or (not says_up and n_down <= n_up):
            report.flagged.append(
                (tone.group(0), f"the tone contradicts its own counts (up {n_up:,}, down {n_down:,})")
            )


_PUMP_WORDS = re.compile(r"급등\s?(?:신호|징후|이상)|pump", re.I)
_DUMP_WORDS = re.compile(r"급락\s?(?:신호|징후|이상)|dump", re.I)


def _check_anomaly_words(answer: str, cf: ContextFacts, ent_re: re.Pattern[str], report: VerifyReport) -> None:
    """ "리플 급락 신호" when the data has a pump for XRP (and no dump): an anomaly named with the wrong direction."""
    for sentence in _SENTENCE_END.split(answer):
        says_pump, says_dump = bool(_PUMP_WORDS.search(sentence)), bool(_DUMP_WORDS.search(sentence))
        if says_pump == says_dump:
            continue
        for m in ent_re.finditer(sentence):
            sym = cf.symbol_of(m.group(0))
            kinds = cf.anomaly_kinds.get(sym or "", set())
            if not kinds and cf.anomaly_kinds and sym and sym not in cf.anomaly_kinds:
                report.notes.append(f"{sym}: the data lists no anomaly for this coin")
                continue
            if kinds and says_pump and "pump" not in kinds and "dump" in kinds:
                report.notes.append(f"{sym}: the data has a dump, the answer says pump")
            if kinds and says_dump and "dump" not in kinds and "pump" in kinds:
                report.notes.append(f"{sym}: the data has a pump, the answer says dump")


# ------------------------------------------------------------------------------------------------ matching


def _check(c: Claim, cf: ContextFacts, q_values: list[float]) -> Checked:
    if c.unit == "time":
        return _check_time(c, cf)
    if c.unit == "date":
        ok = (int(c.value) // 100, int(c.value) % 100) in cf.dates
        return Checked(c, None, issue=None if ok else "a date that is not in the data")
    if c.kind == "list_size":
        ok = any(int(c.value) <= n for n in cf.list_sizes) or int(c.value) <= max(cf.list_sizes, default=0)
        return Checked(c, None, derived="size of a context list" if ok else None,
                       issue=None if ok else "a list longer than the data gives")  # fmt: skip
    if not c.approx and c.tol >= 0.5 and _ROUND_LEVEL_RE.fullmatch(c.text.replace(",", "")):
        c.tol = min(c.tol, 0.01 * c.value)  # "1억" is a round level, not "anything from 5천만 to 1.5억"
    if any(math.isclose(c.value, q, rel_tol=1e-9) for q in q_values):
        c.tol = 0.0  # a figure from the question gets no rounding benefit: it must be in the data as written
    if c.contradicts:
        return Checked(c, None, issue="the sign and the direction word disagree")
    glued = "number glued to the preceding word (write a space before it)" if c.glued else None
    fact = next((f for f in cf.facts if _matches(c, f)), None)
    if fact is not None:
        issue = glued
        if fact.coverage_s is not None and not c.coverage_stated and fact.kind in ("value", "change", "count"):
            issue = issue or f"{fact.window} figure rests on {fact.coverage_s:.0f} s of data only; say so"
        return Checked(c, fact, issue=issue)
    if c.kind == "count" and c.value == int(c.value) and 2 <= c.value == len(set(c.mentions)):
        return Checked(c, None, derived=f"the {int(c.value)} coins the sentence names")
    derived = _derive(c, cf, q_values)
    if derived is not None:
        return Checked(c, None, derived=derived, issue=glued)
    return Checked(c, None, issue=_diagnose(c, cf, q_values))


def _check_time(c: Claim, cf: ContextFacts) -> Checked:
    m = int(c.value)
    utc_ok = any(abs(m - u) <= 1 for u in cf.utc_minutes)
    kst_ok = any(abs(m - lx.kst_minutes(u)) <= 1 for u in cf.utc_minutes)
    if (c.zone == "UTC" and utc_ok) or (c.zone == "KST" and kst_ok) or (c.zone is None and (utc_ok or kst_ok)):
        return Checked(c, None)
    if c.zone == "UTC" and kst_ok or c.zone == "KST" and utc_ok:
        return Checked(c, None, issue="a clock time in the wrong time zone (UTC and KST are 9 h apart)")
    return Checked(c, None, issue="a clock time that is not in the data")


def _unit_ok(c: Claim, f: Fact) -> bool:
    if c.unit == "pct":
        return f.unit == "pct"
    if c.unit == "x":
        return f.unit == "x"
    return f.unit not in ("pct", "x")


def _kind_ok(c: Claim, f: Fact) -> bool:
    if c.kind is None:
        return f.kind in ("price", "value", "metric", "count")
    if c.kind == "count":
        return f.kind == "count"
    if c.kind == "rank":
        return f.kind == "rank" and (c.sub is None or f.sub in (c.sub, "top"))
    if f.kind in ("count", "rank"):
        return False
    if c.kind in PRICE_LIKE and f.kind in PRICE_LIKE:
        return c.kind == f.kind
    if c.kind == "change" and f.kind == "metric":
        return False
    return c.kind == f.kind


def _entity_ok(c: Claim, f: Fact) -> bool:
    if f.kind == "count" or c.entity is None:
        return True
    if c.entity == f.entity:
        return True
    if f.entity == MARKET:
        return not c.entity_explicit
    if c.entity == MARKET:
        return False
    return False


def _window_ok(c: Claim, f: Fact) -> bool:
    if c.window is None or f.window is None:
        return True
    return c.window == f.window


def _sub_ok(c: Claim, f: Fact) -> bool:
    if c.sub is None:
        return f.sub not in ("prev_close",) or c.kind in (None, "price")
    fs = f.sub or ""
    if c.sub in ("high", "low"):
        return fs.endswith(c.sub) or (c.kind == "rank")
    if c.sub == "52w":
        return "52w" in fs
    if c.sub == "buy":
        return fs == "buy" or f.kind != "share"
    if c.sub == "prev_close":
        return fs == "prev_close" or f.kind == "change"
    return True


def _value_ok(c: Claim, target: float, f_tol: float) -> bool:
    v = c.value
    if c.band is not None:
        return v - f_tol <= target < v + c.band + f_tol
    tol = c.tol
    # The claim must be a rounding of the figure as the context shows it: its own rounding decides (a model that
    # saw "60%" and wrote "61%" is wrong even though 60.4 would round to either). Derivations pass their error in f_tol.
    slack = tol * (2.0 if c.approx else 1.0) + f_tol + 1e-9 * max(abs(target), 1.0)
    if abs(v - target) <= slack:
        return True
    return v <= target < v + 2 * tol + f_tol  # truncated rather than rounded ("1.2억" for 1.26억)


def _direction_ok(c: Claim, f: Fact) -> bool:
    if f.kind == "count" and c.direction is not None and f.sub in ("up", "down", "flat"):
        return {1: "up", -1: "down", 0: "flat"}[c.direction] == f.sub
    if f.kind != "change" or c.direction is None:
        return True
    if f.value == 0:
        return c.direction == 0 or c.value == 0
    if c.direction == 0:
        return abs(f.value) <= max(c.tol, 0.05)
    return (f.value > 0) == (c.direction > 0)


def _matches(c: Claim, f: Fact) -> bool:
    return (
        _value_ok(c, abs(f.value), 0.0)
        and _unit_ok(c, f)
        and _kind_ok(c, f)
        and _entity_ok(c, f)
        and _window_ok(c, f)
        and _sub_ok(c, f)
        and _direction_ok(c, f)
    )


# ------------------------------------------------------------------------------------------------ derivations


def _derive(c: Claim, cf: ContextFacts, q_values: list[float]) -> str | None:
    """The supported derivations (docs/truth.md): recomputed from context facts, never taken on trust."""
    ents = set(c.mentions) | ({c.entity} if c.entity else set())
    mine = [f for f in cf.facts if f.entity in ents]
    sent = c.sentence
    if c.unit in ("krw", "num") and c.kind in (None, "price", "change"):
        # 1. price − previous close in KRW ("전일 대비 4,172,000원 올랐다")
        for e in ents:
            price = _one(mine, e, "price", None)
            prev = _one(mine, e, "price", "prev_close")
            if price and prev:
                diff = price.value - prev.value
                if _value_ok(c, abs(diff), price.tol + prev.tol) and (
                    c.direction is None or (diff > 0) == (c.direction > 0)
                ):
                    return f"{e} price − prev close = {diff:,.0f}"
    if c.unit == "pct" and lx.DERIVE_DIST_RE.search(sent):
        # 2. distance from the 52-week / day high or low in %
        for e in ents:
            price = _one(mine, e, "price", None)
            for f in (
                f for f in mine if f.entity == e and f.kind == "price" and f.sub and f.sub.endswith(("high", "low"))
            ):
                if price and f.value > 0:
                    dist = (price.value / f.value - 1) * 100
                    says_above = re.search(r"above|위에|높", sent) and not re.search(r"below|아래|낮|under", sent)
                    says_below = re.search(r"below|아래|낮|under", sent) and not re.search(r"above|위에|높", sent)
                    wrong_side = (says_above and dist < 0) or (says_below and dist > 0)
                    if not wrong_side and _value_ok(c, abs(dist), 0.005 + abs(dist) * 1e-3):
                        return f"{e} price vs {f.sub} = {dist:+.2f}%"
    if c.unit == "pct" and (c.pct_point or lx.DERIVE_DIFF_RE.search(sent)) and len(ents) >= 2:
        # 3. difference of two coins' changes over the same window, in %p
        changes = [f for f in mine if f.kind == "change"]
        for a, b in itertools.combinations(changes, 2):
            if a.entity != b.entity and a.window == b.window:
                d = abs(a.value - b.value)
                if _value_ok(c, d, a.tol + b.tol):
                    return f"{a.entity} {a.text} − {b.entity} {b.text} = {d:.2f}%p"
    if c.unit == "x" and len(ents) >= 2:
        # 4. ratio of two coins' same-kind figures ("ETH 거래대금의 1.5배")
        for a, b in itertools.permutations([f for f in mine if f.kind in PRICE_LIKE], 2):
            if a.entity != b.entity and a.kind == b.kind and a.window == b.window and b.value > 0:
                r = a.value / b.value
                if _value_ok(c, r, r * (a.tol / max(a.value, 1e-12) + b.tol / max(b.value, 1e-12))):
                    return f"{a.entity} {a.text} / {b.entity} {b.text} = {r:.2f}x"
    if any(math.isclose(c.value, q, rel_tol=1e-9) for q in q_values) and c.entity and c.entity != MARKET:
        # 5. the question's level compared with the price ("1억에는 아직 못 미칩니다")
        price = _one(cf.facts, c.entity, "price", None)
        if price:
            if lx.BELOW_RE.search(sent) and price.value < c.value and not re.search(r"돌파|넘었|broke|above", sent):
                return f"{c.entity} price {price.text} is below the question's {c.text}"
    return None


def _one(facts: list[Fact], entity: str, kind: str, sub: str | None) -> Fact | None:
    return next((f for f in facts if f.entity == entity and f.kind == kind and f.sub == sub), None)


# ------------------------------------------------------------------------------------------------ diagnosis


def _diagnose(c: Claim, cf: ContextFacts, q_values: list[float]) -> str:
    same_unit = [f for f in cf.facts if _unit_ok(c, f) and f.kind not in ("rank",)]
    if any(math.isclose(c.value, q, rel_tol=1e-9) for q in q_values):
        return "a number echoed from the question that no fact supports"
    if c.kind == "rank":
        ranks = [f for f in cf.facts if f.kind == "rank" and f.entity == c.entity]
        return f"rank not in the data (context: {', '.join(f.text for f in ranks) or 'no ranking for this coin'})"
    loose = [f for f in same_unit if _value_ok(c, abs(f.value), 0.0)]
    for f in loose:
        if _kind_ok(c, f) and _window_ok(c, f) and _entity_ok(c, f) and not _direction_ok(c, f):
            return f"direction flipped: the data says {f.describe()}"
    for f in loose:
        if c.entity and f.entity not in (c.entity, MARKET) and f.kind != "count":
            return f"another coin's figure: {f.describe()}"
    for f in loose:
        if _entity_ok(c, f) and not _window_ok(c, f):
            return f"wrong window: {f.describe()}"
    for f in loose:
        if _entity_ok(c, f) and not _kind_ok(c, f):
            return f"a different kind of figure: {f.describe()}"
    mine = [f for f in cf.facts if f.entity in (c.entity, MARKET) and f.value != 0] if c.entity else cf.facts
    for f in mine:
        if c.unit == "pct" and f.unit != "pct" or f.value == 0:
            continue
        ratio = c.value / abs(f.value)
        for k in (10, 100, 1000):
            if math.isclose(ratio, k, rel_tol=0.02) or math.isclose(ratio, 1 / k, rel_tol=0.02):
                return f"a ×{k if ratio > 1 else f'1/{k}'} slip of {f.describe()}"
    digits = re.sub(r"\D", "", c.text)
    for f in mine:
        fd = re.sub(r"\D", "", f.text)
        if len(fd) == len(digits) and fd != digits and sorted(fd) == sorted(digits):
            return f"digits swapped: the data says {f.describe()}"
    if (
        c.value == int(c.value)
        and any(
            int(c.value) in (u // 60, u % 60, lx.kst_minutes(u) // 60, lx.kst_minutes(u) % 60) for u in cf.utc_minutes
        )
        and c.value < 60
    ):
        return "a number taken from a clock time, not a figure"
    if any(int(c.value) in md for md in cf.dates) and c.value == int(c.value):
        return "a number taken from a date, not a figure"
    if c.entity and c.entity != MARKET and c.entity not in {f.entity for f in cf.facts}:
        return f"{c.entity} is not in the data"
    near = min(same_unit, key=lambda f: abs(abs(f.value) - c.value) / max(abs(f.value), 1e-12), default=None)
    return "not in the data" + (f" (closest: {near.describe()})" if near else "")
