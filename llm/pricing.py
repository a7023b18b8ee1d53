"""Claude prices per model (US$ per million tokens: input, output, cache write, cache read) and cost maths."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from llm.usage import Usage

OFFLINE_MODEL = "offline-analyst"


@dataclass(frozen=True)
class Price:
    input: Decimal
    output: Decimal
    cache_write: Decimal  # 5-minute ephemeral cache write = 1.25 × input
    cache_read: Decimal  # cache hit = 0.1 × input


def _p(inp: str, out: str) -> Price:
    i = Decimal(inp)
    return Price(input=i, output=Decimal(out), cache_write=i * Decimal("1.25"), cache_read=i * Decimal("0.1"))


# Published list prices (anthropic.com/pricing) for the models we expect to run; dated aliases share them.
PRICES: dict[str, Price] = {
    "claude-haiku-4-5": _p("1", "5"),
    "claude-sonnet-4-5": _p("3", "15"),
    "claude-sonnet-4-6": _p("3", "15"),
    "claude-sonnet-4": _p("3", "15"),
    "claude-opus-4-5": _p("5", "25"),
    "claude-opus-4-6": _p("5", "25"),
    "claude-opus-4-1": _p("15", "75"),
    "claude-opus-4": _p("15", "75"),
    "claude-3-5-haiku": _p("0.8", "4"),
    "claude-3-haiku": _p("0.25", "1.25"),
}

# Unknown model names fall back to their family's current price (an estimate, marked as such by `price_for`).
FAMILY_FALLBACK: dict[str, Price] = {
    "haiku": PRICES["claude-haiku-4-5"],
    "sonnet": PRICES["claude-sonnet-4-5"],
    "opus": PRICES["claude-opus-4-5"],
}

ZERO = Price(Decimal(0), Decimal(0), Decimal(0), Decimal(0))
MILLION = Decimal(1_000_000)


def price_for(model: str) -> tuple[Price, bool]:
    """(price, exact). `exact` is False when the model was priced by family fallback or is unknown (then zero)."""
    if model == OFFLINE_MODEL:
        return ZERO, True
    name = model.strip().lower()
    # Longest matching prefix wins, so "claude-opus-4-1-2025..." is not priced as "claude-opus-4".
    for key in sorted(PRICES, key=len, reverse=True):
        if name == key or name.startswith(key + "-"):
            return PRICES[key], True
    for family, price in FAMILY_FALLBACK.items():
        if family in name:
            return price, False
    return ZERO, False


def cost_usd(model: str, usage: Usage) -> Decimal:
    """Estimated cost of one call, rounded to a millionth of a dollar (the llm_calls column's scale)."""
    price, _ = price_for(model)
    total = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_creation_tokens * price.cache_write
        + usage.cache_read_tokens * price.cache_read
    ) / MILLION
    return total.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
