"""Stream the Upbit WebSocket ticker of every market in UPBIT_QUOTES into Kafka, or publish a recorded file.

Live: reads the catalog (UPBIT_REST_URL /v1/market/all) into `markets`, subscribes to every market of the quote
currencies, validates each message (rejects → dead-letter topic), reconnects with backoff, records gaps, and
prints a status line every 10 s. Ctrl-C / SIGTERM flush what Kafka has buffered before exit.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from upbit_core.settings import Settings
from upbit_llm.output import print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from-file", metavar="FILE.jsonl", help="publish recorded ticker messages to Kafka")
    parser.add_argument("--codes", help="explicit market codes, comma separated (overrides UPBIT_QUOTES)")
    parser.add_argument("--status-interval", type=float, default=10.0, help="seconds between status lines")
    parser.add_argument("--json", action="store_true", help="print the final summary as JSON")


def _progress_bar(done: int, total: int, published: int, dead: int, seconds: float) -> str:
    fraction = done / total if total else 1.0
    width = 30
    filled = int(width * fraction)
    rate = published / seconds if seconds > 0 else 0.0
    return (
        f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction * 100:5.1f}% "
        f"published={published} dead_letters={dead} {rate:,.0f} msg/s"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.producer import ProducerError, TickerProducer, ensure_topics

    try:
        ensure_topics(settings)
        producer = TickerProducer(settings)
    except ProducerError as exc:
        print(f"ingest failed: {exc}", file=sys.stderr)
        return 1
    if args.from_file:
        return _from_file(args, settings, producer)
    return _live(args, settings, producer)


def _from_file(args: argparse.Namespace, settings: Settings, producer: object) -> int:
    from ingest.backfill import BackfillResult, publish_file
    from ingest.producer import ProducerError, TickerProducer

    assert isinstance(producer, TickerProducer)
    path = Path(args.from_file)
    if not path.is_file():
        print(f"ingest failed: {path} is not a file (expected JSON Lines of ticker messages)", file=sys.stderr)
        return 1
    stop = {"flag": False}

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def progress(done: int, total: int, result: BackfillResult) -> None:
        if not args.json:
            bar = _progress_bar(done, total, result.published, result.dead_letters, result.seconds)
            print(bar, end="", file=sys.stderr, flush=True)

    result = publish_file(producer, path, progress=progress, should_stop=lambda: stop["flag"])
    if not args.json:
        print(file=sys.stderr)
    try:
        producer.close()
    except ProducerError as exc:
        print(f"ingest failed: {exc}", file=sys.stderr)
        return 1
    summary = {
        "file": str(path),
        "lines": result.lines,
        "published": result.published,
        "dead_letters": result.dead_letters,
        "seconds": round(result.seconds, 3),
        "topic": settings.kafka_topic,
        "interrupted": stop["flag"],
    }
    if args.json:
        print_json(summary)
    else:
        print(
            f"published {result.published} message(s) from {path} to {settings.kafka_topic} "
            f"({result.dead_letters} dead letter(s)) in {result.seconds:.1f}s"
        )
    return 130 if stop["flag"] else 0


def _live(args: argparse.Namespace, settings: Settings, producer: object) -> int:
    from ingest.producer import ProducerError, TickerProducer
    from ingest.service import LiveIngest

    assert isinstance(producer, TickerProducer)
    codes = [c.strip().upper() for c in args.codes.split(",") if c.strip()] if args.codes else None
    service = LiveIngest(
        settings,
        producer,
        codes=codes,
        status=lambda line: print(line, file=sys.stderr, flush=True),
        status_interval=args.status_interval,
    )

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        service.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(
        f"ingest: {settings.upbit_ws_url} → kafka {settings.kafka_servers} topic {settings.kafka_topic}",
        file=sys.stderr,
    )
    stats = service.run()
    try:
        producer.close()
    except ProducerError as exc:
        print(f"ingest stopped with losses: {exc}", file=sys.stderr)
        return 1
    summary = {
        "messages": stats.messages,
        "markets": len(stats.markets),
        "dead_letters": stats.dead_letters,
        "gaps": stats.gaps,
        "reconnects": service.stream.stats.reconnects,
    }
    if args.json:
        print_json(summary)
    else:
        print(service.status_line())
    return 0
