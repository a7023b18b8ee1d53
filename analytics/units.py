"""Unit conversions and number formatting: the only place a fraction becomes a percent or KRW becomes text."""

from __future__ import annotations

import math

# Upbit's change_rate / signed_change_rate are FRACTIONS (0.0404 = 4.04 %); every *_pct field holds percent.


def fraction_to_pct(fraction: float | None) -> float | None:
    """Upbit's signed_change_rate (a fraction) as a signed percent."""
    if fraction is None or not math.isfinite(fraction):
        return None
    return fraction * 100.0


def change_pct(new: float | None, old: float | None) -> float | None:
    """Signed percent change from `old` to `new`; None when either is missing or old is not positive."""
    if new is None or old is None or not math.isfinite(new) or not math.isfinite(old) or old <= 0:
        return None
    return (new / old - 1.0) * 100.0


def share_pct(part: float | None, whole: float | None) -> float | None:
    """`part` as a percent of `whole` (0..100 for shares)."""
    if part is None or whole is None or not math.isfinite(part) or not math.isfinite(whole) or whole <= 0:
        return None
    return part / whole * 100.0


def position_pct(value: float | None, low: float | None, high: float | None) -> float | None:
    """Where `value` sits in [low, high] as 0..100 percent (0 = at the low); None for an empty range."""
    if value is None or low is None or high is None or high <= low:
        return None
    return max(0.0, min(100.0, (value - low) / (high - low) * 100.0))


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or baseline is None or baseline <= 0:
        return None
    return value / baseline


def fmt_pct(pct: float | None, digits: int = 2) -> str:
    """A signed percent for text: +4.04% / -0.50% / n/a."""
    if pct is None:
        return "n/a"
    return f"{pct:+.{digits}f}%"


def fmt_share(pct: float | None) -> str:
    return "n/a" if pct is None else f"{pct:.0f}%"


def fmt_krw(value: float | None) -> str:
    """A KRW amount compactly: 1.23T / 45.6B / 789M / 12.3K (T = 10^12, B = 10^9, M = 10^6)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    sign = "-" if value < 0 else ""
    v = abs(value)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if v >= limit:
            scaled = v / limit
            return f"{sign}{scaled:.3g}{suffix}" if scaled < 100 else f"{sign}{scaled:.0f}{suffix}"
    return f"{sign}{v:.0f}"


def fmt_price(price: float | None) -> str:
    """A price with sensible precision: integers from 100 up, 4 significant digits below."""
    if price is None or not math.isfinite(price):
        return "n/a"
    if abs(price) >= 100:
        return f"{price:.0f}"
    return f"{price:.4g}"


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def fmt_krw_ko(value: float | None) -> str:
    """A KRW amount for Korean sentences with exactly the precision fmt_krw shows (so text and context agree):
    1.82T → 1.82조원, 16.6B → 166억원, 812M → 8.12억원, 73.2M → 7,320만원, 12.3K → 1.23만원."""
    if value is None or not math.isfinite(value):
        return "n/a"
    sign = "-" if value < 0 else ""
    v = abs(value)
    if v >= 1e3:
        compact = fmt_krw(v)  # e.g. "73.2M": the figure as contexts write it
        v = float(compact[:-1]) * {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}[compact[-1]]
    for unit, name in ((1e12, "조원"), (1e8, "억원"), (1e4, "만원")):
        if v >= unit:
            shown = f"{v / unit:,.4f}".rstrip("0").rstrip(".")
            return f"{sign}{shown}{name}"
    return f"{sign}{v:,.0f}원"


def fmt_price_ko(price: float | None) -> str:
    """A price for Korean sentences with thousands separators: 97,554,000원 / 3,161원 / 0.01567원."""
    if price is None or not math.isfinite(price):
        return "n/a"
    if abs(price) >= 100:
        return f"{price:,.0f}원"
    return f"{price:.4g}원"


def fmt_num(value: float | None, digits: int = 1) -> str:
    """A plain figure with fixed decimals (RSI 71.2, %B 0.93)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"
