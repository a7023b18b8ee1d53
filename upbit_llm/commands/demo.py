"""Run the whole platform locally as supervised processes: simulated (or real) Upbit, ingest, consumer, Celery
worker and beat, Flower, the MCP server over HTTP and the dashboard. Prints what runs where, then a live status
line. Logs go to one folder. Ctrl-C (or SIGTERM) stops everything; a child that dies is reported and restarted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from upbit_core.settings import Settings

SUMMARY_TASK = "celery_app.tasks.summary.market_summary"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--live", action="store_true", help="use real Upbit instead of the simulator")
    parser.add_argument("--duration", type=float, default=None, metavar="SECONDS", help="run this long, then stop")
    parser.add_argument("--log-dir", default=None, help="folder for the children's logs (default RUN_DIR/logs)")
    parser.add_argument(
        "--summary-interval", type=int, default=None, metavar="SECONDS", help="market summary period (default 300)"
    )
    parser.add_argument(
        "--first-summary-after",
        type=float,
        default=75.0,
        metavar="SECONDS",
        help="enqueue one market summary this long after start, so one exists before the first period (0 = off)",
    )
    parser.add_argument(
        "--first-event-after",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="the simulator injects its first labelled event (a pump) this long after start (default 60)",
    )
    parser.add_argument(
        "--event-interval",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="seconds between the simulator's injected events (default 120)",
    )
    parser.add_argument(
        "--history-minutes",
        type=float,
        default=8.0,
        metavar="MINUTES",
        help="simulated warm-up history published before the live stream, so the anomaly detector has a baseline "
        "(default 8; 0 = none)",
    )
    parser.add_argument("--markets", type=int, default=160, help="simulated markets (default 160)")
    parser.add_argument("--rate", type=float, default=200.0, help="simulated messages per second (default 200)")
    parser.add_argument("--status-interval", type=float, default=5.0, metavar="SECONDS", help="status line period")
    parser.add_argument("--no-web", action="store_true", help="do not start the dashboard")
    parser.add_argument("--no-flower", action="store_true", help="do not start Flower")
    parser.add_argument("--skip-services", action="store_true", help="do not run `services up` first")
    parser.add_argument("--json", action="store_true", help="print status lines as JSON objects (for scripts)")


class _Console:
    """Status line for people: rewritten in place on a terminal, one line per period otherwise."""

    def __init__(self, as_json: bool) -> None:
        self.tty = sys.stdout.isatty() and not as_json
        self.as_json = as_json
        self._dangling = False

    def event(self, text: str) -> None:
        if self._dangling:
            print()
            self._dangling = False
        print(text, flush=True)

    def status(self, text: str) -> None:
        if self.tty:
            print("\r\x1b[K" + text, end="", flush=True)
            self._dangling = True
        else:
            print(text, flush=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from upbit_llm import services
    from upbit_llm.demo.children import DemoOptions, build_plan, mcp_config_line
    from upbit_llm.demo.status import StatusReader, format_status
    from upbit_llm.supervisor import Supervisor, SupervisorEvent

    log_dir = Path(args.log_dir) if args.log_dir else settings.run_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    console = _Console(args.json)

    # 1. Local services and the schema.
    statuses = services.status(settings) if args.skip_services else services.up(settings)
    down = [s for s in statuses if not s.up]
    for s in down:
        print(f"[FAIL] {s.name} at {s.address}: {s.detail}. Fix: {s.fix or 'start it'}", file=sys.stderr)
    if down:
        return 1
    print("services: " + ", ".join(f"{s.name} {s.address} up" for s in statuses), flush=True)
    from db.migrate import MigrationError, migrate

    try:
        report = migrate(settings)
    except (MigrationError, OSError) as exc:
        print(f"migrate failed: {exc}\nFix the database, then run `upbit-llm migrate` to see details.", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - psycopg2 errors: say what failed and how to continue
        print(f"migrate failed: {type(exc).__name__}: {exc}\nRun `upbit-llm doctor`.", file=sys.stderr)
        return 1

    # 2. What runs where.
    opts = DemoOptions(
        live=args.live,
        log_dir=log_dir,
        web=not args.no_web,
        flower=not args.no_flower,
        markets=args.markets,
        rate=args.rate,
        summary_interval=args.summary_interval or settings.summary_interval_seconds,
        first_event_after=args.first_event_after,
        event_interval=args.event_interval,
        history_minutes=args.history_minutes,
    )
    plan = build_plan(settings, opts)
    print(
        f"upbit-llm demo — database {settings.timescaledb_dbname} ({report.mode} mode), Kafka {settings.kafka_servers}"
    )
    print(f"  logs:            {log_dir}/<child>.log")
    for what, url in plan.urls.items():
        print(f"  {what + ':':<16} {url}")
    # Secrets generated for this run are printed (the user needs them); ones the user set are not repeated.
    if "Flower" in plan.urls:
        if plan.flower_password_generated:
            login = f"{plan.flower_password} (generated for this run; set FLOWER_PASSWORD to choose one)"
        else:
            login = "FLOWER_PASSWORD from your settings"
        print(f"  Flower login:    {plan.flower_user} / {login}")
    if "MCP (streamable HTTP)" in plan.urls:
        token = plan.mcp_token if plan.mcp_token_generated else "$MCP_TOKEN"
        note = "  (token generated for this run; set MCP_TOKEN to keep one)" if plan.mcp_token_generated else ""
        print(f"  Claude Code:     {mcp_config_line(plan.urls['MCP (streamable HTTP)'], token)}{note}")
    if plan.labels_path:
        print(f"  event labels:    {plan.labels_path} (the simulator's injected pumps, dumps and spikes)")
    for name, why in plan.skipped.items():
        print(f"  not started:     {name} — {why}")
    print(f"  market summary every {opts.summary_interval}s; first one ~{args.first_summary_after:.0f}s after start")
    print("  see results:     upbit-llm summary --json · upbit-llm anomalies · Flower · MCP tools")
    stop_hint = f"stops after {args.duration:.0f}s or on Ctrl-C" if args.duration else "Ctrl-C stops everything"
    print(f"  {stop_hint}\n", flush=True)

    def on_event(ev: SupervisorEvent) -> None:
        if ev.kind in ("exited", "gave_up", "killed", "not_ready"):
            console.event(f"[supervisor] !! {ev.child}: {ev.message}")
        elif ev.kind in ("started", "restarting", "ready", "finished", "stopped"):
            console.event(f"[supervisor] {ev.child}: {ev.kind} {ev.message}")

    state_file = log_dir / "demo-state.json"
    sup = Supervisor(plan.specs, log_dir, on_event=on_event, state_file=state_file)
    reader = StatusReader(settings)
    began = time.monotonic()
    names = {s.name for s in plan.specs}
    oneshots: list[subprocess.Popen[bytes]] = []
    ticks = {"status": 0.0, "summary_sent": args.first_summary_after <= 0 or "celery-worker" not in names}

    def on_tick() -> None:
        now = time.monotonic()
        if not ticks["summary_sent"] and now - began >= args.first_summary_after:
            ticks["summary_sent"] = True
            oneshots.append(_enqueue_summary(plan.env, log_dir, console))
        if now - float(ticks["status"]) < args.status_interval:
            return
        ticks["status"] = now
        st = reader.read()
        snap = sup.snapshot()
        snap = [c for c in snap if not c["finished"]]  # a completed one-shot (the history) is not "down"
        up = sum(1 for c in snap if c["running"])
        restarts = sum(int(c["restarts"]) for c in snap)  # type: ignore[call-overload]
        if args.json:
            console.status(json.dumps({"elapsed_s": round(now - began, 1), "up": up, "children": len(snap),
                                       "restarts": restarts, **st.as_dict()}))  # fmt: skip
        else:
            console.status(format_status(st, elapsed=now - began, up=up, total=len(snap), restarts=restarts))

    why = sup.run(duration=args.duration, on_tick=on_tick)
    for proc in oneshots:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    leftovers = sup.all_pids()
    final = reader.read()
    reader.close()
    console.event(
        f"stopped ({why}); {len(plan.specs)} children stopped, leftover processes: {len(leftovers)}; "
        f"rows {final.rows}, summaries {final.summaries}, anomalies {final.anomalies}; logs in {log_dir}"
    )
    return 0 if not leftovers else 1


def _enqueue_summary(env: dict[str, str], log_dir: Path, console: _Console) -> subprocess.Popen[bytes]:
    """Send one market-summary task through Celery (shows in Flower like the scheduled ones)."""
    cmd = [sys.executable, "-m", "celery", "-A", "celery_app", "call", SUMMARY_TASK]
    with (log_dir / "first-summary.log").open("ab") as out:
        # Not waited for here: the call takes a second or two and the status loop must keep going.
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    console.event(f"[demo] enqueued {SUMMARY_TASK} (the first market summary); then every period via beat")
    return proc
