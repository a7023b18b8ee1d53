"""Days of real-format (DEFAULT) Upbit tickers for a dozen named KRW markets, fast to make and deterministic.

The market simulator makes one message per simulated event and takes minutes for days of history; these tests need
days (chunk boundaries, day candles, retention) more than realism of the order flow, so this walks each market's
price minute by minute and emits a few fills per minute, some of them sharing a millisecond (as Upbit's do), with
acc_trade_volume growing through each UTC day like Upbit's.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from tests.support.analytics_data import catalog_entry, tick

MARKETS: tuple[tuple[str, str, str, float], ...] = (
    ("KRW-BTC", "비트코인", "Bitcoin", 130_000_000.0),
    ("KRW-ETH", "이더리움", "Ethereum", 4_500_000.0),
    ("KRW-XRP", "리플", "XRP", 3_200.0),
    ("KRW-SOL", "솔라나", "Solana", 250_000.0),
    ("KRW-DOGE", "도지코인", "Dogecoin", 450.0),
    ("KRW-ADA", "에이다", "Cardano", 1_100.0),
    ("KRW-SHIB", "시바이누", "Shiba Inu", 0.035),
    ("KRW-ARN", "알파 쿼크", "Alpha Quark", 120.0),
    ("KRW-W", "웜홀", "Wormhole", 400.0),
    ("KRW-TRX", "트론", "TRON", 350.0),
    ("KRW-LINK", "체인링크", "Chainlink", 30_000.0),
    ("BTC-ETH", "이더리움", "Ethereum", 0.035),
)


def history_catalog() -> list[dict[str, Any]]:
    return [catalog_entry(code, ko, en) for code, ko, en, _ in MARKETS]


def history_messages(start: datetime, minutes: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """`minutes` of tickers from `start` (UTC, minute-aligned), every market, time-ordered per market."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    start_ms = int(start.astimezone(UTC).timestamp() * 1000)
    for code, _, _, base in MARKETS:
        price = base
        acc_volume = 0.0
        day = None
        prev_close = base
        for m in range(minutes):
            minute_ms = start_ms + m * 60_000
            today = minute_ms // 86_400_000
            if today != day:
                day, acc_volume, prev_close = today, 0.0, price
            if rng.random() < 0.15:  # quiet minute: no fill
                continue
            ms = minute_ms + rng.randrange(0, 50_000)
            for _ in range(rng.randint(1, 4)):
                price = max(base * 0.2, price * (1 + rng.gauss(0, 0.002)))
                volume = round(rng.uniform(0.01, 5.0) * 1_000_000 / base, 8) or 1e-8
                acc_volume += volume
                out.append(
                    tick(
                        code,
                        ms,
                        price,
                        prev_close=prev_close,
                        volume=volume,
                        side=rng.choice(("BID", "ASK")),
                        acc_volume=acc_volume,
                        value_24h=1e10 + acc_volume * price,
                    )
                )
                if rng.random() < 0.6:  # next fill of the same order: often the same millisecond
                    ms += rng.choice((0, 0, 1, 120))
    return out
