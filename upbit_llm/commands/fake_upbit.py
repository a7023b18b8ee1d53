"""Run the local Upbit-protocol replay server (WebSocket /websocket/v1 and REST /v1/market/all).

Sources: `--simulate` (deterministic market simulator with labelled injected events written to `--labels`) or
`--file F.jsonl` (recorded DEFAULT/SIMPLE messages, `--speed N|max`, `--loop`). `--dump F.jsonl --duration S`
writes simulated messages to a file instead of serving them. Fault switches for tests: `--drop-every N`,
`--stall-after N`, `--garbage-every N`. `--port 0` picks a free port; the URLs are printed at start.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import orjson

from upbit_core.settings import Settings
from upbit_llm.output import print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8590, help="0 picks a free port and prints the URLs")
    parser.add_argument("--file", metavar="FILE.jsonl", help="replay recorded messages")
    parser.add_argument("--speed", default="1", help="replay speed relative to the file's timestamps, or 'max'")
    parser.add_argument("--loop", action="store_true", help="replay the file forever")
    parser.add_argument("--simulate", action="store_true", help="run the market simulator")
    parser.add_argument("--markets", type=int, default=160, help="simulated markets")
    parser.add_argument("--rate", type=float, default=100.0, help="simulated messages per second")
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (same seed → same market)")
    parser.add_argument("--no-events", action="store_true", help="simulate without injected events")
    parser.add_argument("--first-event", type=float, default=60.0, help="seconds until the first injected event")
    parser.add_argument("--event-interval", type=float, default=150.0, help="seconds between injected events")
    parser.add_argument("--labels", metavar="FILE.jsonl", help="write injected event labels here (JSON Lines)")
    parser.add_argument("--duration", type=float, default=0.0, help="simulated seconds (0 = a week)")
    parser.add_argument("--dump", metavar="FILE.jsonl", help="write --duration seconds of simulated messages and exit")
    parser.add_argument("--drop-every", type=int, default=0, help="fault: drop the connection every N messages")
    parser.add_argument("--max-drops", type=int, default=0, help="fault: stop dropping after N drops (0 = never)")
    parser.add_argument("--stall-after", type=int, default=0, help="fault: go silent once after N messages")
    parser.add_argument("--garbage-every", type=int, default=0, help="fault: send a garbage frame every N messages")
    parser.add_argument("--history-hours", type=float, default=26.0, help="REST minute-candle history before the feed")
    parser.add_argument("--rest-rate", type=int, default=10, help="REST candle requests/s before 429 (Upbit: 10)")
    parser.add_argument("--rest-storm", type=int, default=0, help="fault: answer the next N candle requests 429")
    parser.add_argument("--json", action="store_true", help="print the URLs as JSON at start")


def run(args: argparse.Namespace, _settings: Settings) -> int:
    from fake_upbit.server import FakeUpbitServer, Faults
    from fake_upbit.simulator import EventPlan
    from fake_upbit.sources import FileSource, SimulatedSource

    speed: float | None
    if str(args.speed).lower() == "max":
        speed = None
    else:
        try:
            speed = float(args.speed)
            if speed <= 0:
                raise ValueError
        except ValueError:
            print(f"fake-upbit: --speed must be a positive number or 'max', not {args.speed!r}", file=sys.stderr)
            return 2
    plan = EventPlan(first_event_s=args.first_event, interval_s=args.event_interval, trend_at_s=args.first_event / 2)
    duration = args.duration or 7 * 86_400
    if args.dump:
        return _dump(args, plan, duration)
    if args.file:
        try:
            source: FileSource | SimulatedSource = FileSource(Path(args.file), loop=args.loop)
        except FileNotFoundError as exc:
            print(f"fake-upbit: {exc}", file=sys.stderr)
            return 1
    else:
        if not args.simulate:
            print("fake-upbit: no --file given, running the simulator (--simulate)", file=sys.stderr)
        source = SimulatedSource(
            markets=args.markets,
            rate=args.rate,
            seed=args.seed,
            events=not args.no_events,
            plan=plan,
            duration_s=duration,
            history_hours=args.history_hours,
        )
    labels = Path(args.labels) if args.labels else None
    if labels:
        labels.parent.mkdir(parents=True, exist_ok=True)
        labels.write_text("")
    faults = Faults(
        drop_every=args.drop_every,
        max_drops=args.max_drops,
        stall_after=args.stall_after,
        garbage_every=args.garbage_every,
    )
    from fake_upbit.candles import RestLimits

    server = FakeUpbitServer(
        source,
        host=args.host,
        port=args.port,
        speed=speed,
        faults=faults,
        labels_path=labels,
        rest_limits=RestLimits(per_second=args.rest_rate, storm_requests=args.rest_storm),
    )

    def ready(s: FakeUpbitServer) -> None:
        urls = {"websocket": s.ws_url, "rest": s.rest_url, "markets": len(s.source.catalog())}
        if args.json:
            print(orjson.dumps(urls).decode(), flush=True)
        else:
            print(f"fake-upbit listening: UPBIT_WS_URL={s.ws_url} UPBIT_REST_URL={s.rest_url}", flush=True)
            print(f"  {urls['markets']} markets; the feed starts when the first client subscribes", flush=True)

    try:
        asyncio.run(server.serve(ready))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"fake-upbit: cannot listen on {args.host}:{args.port}: {exc} — pick another --port (0 = any)")
        return 1
    return 0


def _dump(args: argparse.Namespace, plan: object, duration: float) -> int:
    from fake_upbit.simulator import EventPlan, MarketSimulator

    assert isinstance(plan, EventPlan)
    if not args.duration:
        print("fake-upbit: --dump needs --duration SECONDS", file=sys.stderr)
        return 2
    sim = MarketSimulator(markets=args.markets, seed=args.seed, rate=args.rate, events=not args.no_events, plan=plan)
    count = 0
    with Path(args.dump).open("wb") as fh:
        for message in sim.messages(duration):
            fh.write(orjson.dumps(message) + b"\n")
            count += 1
    if args.labels:
        Path(args.labels).write_bytes(b"".join(orjson.dumps(label) + b"\n" for label in sim.labels()))
    summary = {"file": args.dump, "messages": count, "labels": len(sim.labels()), "markets": len(sim.codes)}
    if args.json:
        print_json(summary)
    else:
        print(
            f"wrote {count} messages for {len(sim.codes)} markets to {args.dump} ({len(sim.labels())} labelled events)"
        )
    return 0
