"""Mechanical mutants of true answers — the slips careless models make, applied to text that verified: a figure
scaled ×10/×100, two digits swapped, a direction word or sign flipped, the coin swapped, a figure replaced by a part
of the as-of clock time. Used by the hypothesis test and by `bench truth` (answers nobody hand-labelled)."""

from __future__ import annotations

import re
from decimal import Decimal

KINDS = ("x10", "x100", "swap_digits", "flip", "swap_coin", "timestamp")

FLIPS = {
    "올랐": "내렸", "내렸": "올랐", "상승": "하락", "하락": "상승", "급락": "급등", "급등": "급락", "up ": "down ",
    "down ": "up ", "gained": "lost", "dropped": "jumped", "pumped": "dumped", "+": "-",
}  # fmt: skip
OTHER_COIN = {"비트코인": "이더리움", "이더리움": "리플", "리플": "비트코인", "Bitcoin": "Ether", "Ether": "XRP",
              "XRP": "Bitcoin", "BCH": "W", "W": "BCH", "웜홀": "에이다", "에이다": "웜홀"}  # fmt: skip
_FIGURE_RE = re.compile(r"(?<![\d:,.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\d:,.])\d+\.\d+|(?<![\d:,.])\d+(?=%)")


def figures(text: str) -> list[re.Match[str]]:
    return list(_FIGURE_RE.finditer(text))


def scaled(raw: str, k: int) -> str:
    digits = raw.replace(",", "")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    value = Decimal(digits) * k
    keep = max(0, decimals - len(str(k)) + 1)
    out = f"{value:,.{keep}f}" if "," in raw else f"{value:.{keep}f}"
    return out


def mutate(text: str, how: str, pick: int, clock: tuple[str, str] = ("46", "22")) -> str | None:
    """One mutant of `text` (None when the mutation does not apply)."""
    figs = figures(text)
    if how in ("x10", "x100", "swap_digits", "timestamp") and not figs:
        return None
    if how in ("x10", "x100"):
        m = figs[pick % len(figs)]
        return text[: m.start()] + scaled(m.group(0), 10 if how == "x10" else 100) + text[m.end() :]
    if how == "swap_digits":
        m = figs[pick % len(figs)]
        raw = m.group(0)
        pairs = [i for i in range(len(raw) - 1) if raw[i].isdigit() and raw[i + 1].isdigit() and raw[i] != raw[i + 1]]
        if not pairs:
            return None
        i = pairs[pick % len(pairs)]
        return text[: m.start()] + raw[:i] + raw[i + 1] + raw[i] + raw[i + 2 :] + text[m.end() :]
    if how == "flip":
        spots = [(m.start(), w) for w in FLIPS for m in re.finditer(re.escape(w), text)]
        if not spots:
            return None
        at, word = sorted(spots)[pick % len(spots)]
        return text[:at] + FLIPS[word] + text[at + len(word) :]
    if how == "swap_coin":
        spots = [
            (m.start(), w)
            for w in OTHER_COIN
            for m in re.finditer(rf"(?<![A-Za-z가-힣]){re.escape(w)}(?![A-Za-z])", text)
        ]
        if not spots:
            return None
        at, word = sorted(spots)[pick % len(spots)]
        return text[:at] + OTHER_COIN[word] + text[at + len(word) :]
    if how == "timestamp":
        # a figure replaced by a part of the as-of clock time (22:46 → "46"), as a model reading the header does
        pct = [m for m in figs if text[m.end() : m.end() + 1] == "%"]
        if not pct:
            return None
        m = pct[pick % len(pct)]
        return text[: m.start()] + (clock[0] if pick % 2 else clock[1]) + text[m.end() :]
    return None
