"""Backfill: publish a file of recorded ticker messages (JSON Lines) to Kafka, with validation and progress."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from ingest.producer import TickerProducer
from ingest.ticker import InvalidMessage, is_simple, to_default, validation_errors

log = logging.getLogger(__name__)


@dataclass
class BackfillResult:
    lines: int = 0
    published: int = 0
    dead_letters: int = 0
    seconds: float = 0.0


def publish_file(
    producer: TickerProducer,
    path: Path,
    *,
    progress: Callable[[int, int, BackfillResult], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> BackfillResult:
    """Validate each line and publish it (invalid lines → dead-letter topic, stage `file`). Flushes at the end.

    `progress(bytes_done, bytes_total, result)` is called about every 0.2 s. Event time stays the recorded
    `trade_timestamp`, so a backfill yields the same rows and aggregates as the live stream did.
    """
    result = BackfillResult()
    total = path.stat().st_size
    done = 0
    started = last = time.monotonic()
    with path.open("rb") as fh:
        for raw in fh:
            done += len(raw)
            line = raw.strip()
            if not line:
                continue
            result.lines += 1
            received = int(time.time() * 1000)
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                producer.send_dead_letter(line, f"line {result.lines}: not valid JSON: {exc}", "file", received)
                result.dead_letters += 1
                continue
            if isinstance(message, dict) and is_simple(message):
                message = to_default(message)
            reasons = validation_errors(message)
            if reasons:
                reason = f"line {result.lines}: {InvalidMessage(reasons)}"
                producer.send_dead_letter(line, reason, "file", received)
                result.dead_letters += 1
                continue
            # The recorded arrival time is unknown: the message time (`timestamp`) stands in for received_at.
            producer.send_ticker(message, int(message.get("timestamp") or received), source="file")
            result.published += 1
            now = time.monotonic()
            if progress and now - last >= 0.2:
                last = now
                result.seconds = now - started
                progress(done, total, result)
            if should_stop():
                log.warning("backfill interrupted line=%d", result.lines)
                break
    producer.flush()
    result.seconds = time.monotonic() - started
    if progress:
        progress(done, total, result)
    return result
