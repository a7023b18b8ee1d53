"""The demo's warm-up history: N minutes of simulated trading (no injected events) ending now, published to Kafka.

Why: the anomaly detector compares each market with its own trailing baseline and stays silent until a market has
a few minutes of history (its warm-up). A fresh demo database has none, so without this the simulator's first pump
would pass unnoticed. The history uses the same seed, market count and rate as the live simulator, so the
baseline matches the live stream (a lower-rate history would make every live minute look like a spike).

Run as `python -m upbit_llm.demo.history --minutes 8 --markets 160 --rate 200 --seed 7` (the demo does this as
a one-shot supervised child before the live ingest starts).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

from upbit_core.logging_setup import configure_logging
from upbit_core.settings import Settings

log = logging.getLogger(__name__)


def mirrored(message: dict[str, Any], pivot_ms: int) -> dict[str, Any]:
    """The message moved to time `2 * pivot - t` (trade date/time strings follow)."""
    out = dict(message)
    ms = 2 * pivot_ms - int(message["trade_timestamp"])
    when = datetime.fromtimestamp(ms / 1000, tz=UTC)
    out["trade_timestamp"] = ms
    out["trade_date"] = when.strftime("%Y%m%d")
    out["trade_time"] = when.strftime("%H%M%S")
    if isinstance(message.get("timestamp"), int):
        out["timestamp"] = 2 * pivot_ms - int(message["timestamp"])
    return out


def publish_history(settings: Settings, *, minutes: float, markets: int, rate: float, seed: int) -> int:
    """Publish `minutes` of simulated messages ending now; returns how many were acknowledged by Kafka.

    The simulator always starts at its base prices, and so does the live fake-upbit started next. To make the
    history end where the live stream begins (no price jump at the seam, which the detector would rightly flag),
    the history is the simulation of the *next* `minutes` mirrored in time around now: it ends at the base prices.
    """
    # Here, not at module top: the simulator is development tooling, imported only by the demo command that runs
    # it (the composition-root exception in docs/architecture.md), and the Kafka client only when publishing.
    from fake_upbit.simulator import MarketSimulator
    from ingest.producer import TickerProducer, ensure_topics

    ensure_topics(settings)
    producer = TickerProducer(settings, linger_ms=20, client_id="upbit-llm-demo-history")
    pivot_ms = int(time.time() * 1000)
    sim = MarketSimulator(markets=markets, seed=seed, start_ms=pivot_ms, rate=rate, events=False)
    sent = 0
    began = time.monotonic()
    for message in sim.messages(minutes * 60):
        message = mirrored(message, pivot_ms)
        producer.send_ticker(message, int(message.get("timestamp") or message["trade_timestamp"]), source="history")
        sent += 1
        if sent % 20_000 == 0:
            log.info("history published=%s seconds=%.1f", sent, time.monotonic() - began)
    producer.close()
    log.info("history done published=%s acked=%s seconds=%.1f", sent, producer.acked, time.monotonic() - began)
    return int(producer.acked)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m upbit_llm.demo.history", description=__doc__)
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--markets", type=int, default=160)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level)
    acked = publish_history(settings, minutes=args.minutes, markets=args.markets, rate=args.rate, seed=args.seed)
    print(f"published {acked} history messages ({args.minutes:g} simulated minutes ending now)", flush=True)
    return 0 if acked else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
