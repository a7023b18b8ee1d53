"""Check every service the platform needs and print, for each problem, the exact fix.

Checks: PostgreSQL, the database and its schema, the TimescaleDB extension, Redis, Kafka, Upbit REST and
WebSocket reachability, and whether an Anthropic API key is set (without one the offline analyst answers).
"""

from __future__ import annotations

import argparse
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

from upbit_core.settings import Settings
from upbit_llm.output import print_json


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument("--timeout", type=float, default=3.0, help="network timeout per check, seconds")


def _database_checks(settings: Settings) -> list[Check]:
    import psycopg2

    from db.connection import DatabaseUnavailable, connect
    from db.migrate import current_mode

    checks: list[Check] = []
    try:
        conn = connect(settings, dbname="postgres", connect_timeout=3)
    except DatabaseUnavailable as exc:
        return [Check("postgres", False, str(exc), "upbit-llm services up")]
    with conn, conn.cursor() as cur:
        cur.execute("SHOW server_version")
        version = cur.fetchone()[0]  # type: ignore[index]
        cur.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'")
        ts = cur.fetchone()
    conn.close()
    checks.append(
        Check("postgres", True, f"PostgreSQL {version} at {settings.timescaledb_host}:{settings.timescaledb_port}")
    )
    try:
        db = connect(settings, connect_timeout=3)
    except DatabaseUnavailable:
        checks.append(
            Check("database", False, f"database {settings.timescaledb_dbname!r} does not exist", "upbit-llm migrate")
        )
        mode = None
    else:
        try:
            mode = current_mode(db)
            with db.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")
                ts_enabled = bool(cur.fetchone()[0])  # type: ignore[index]
        except psycopg2.Error as exc:
            mode, ts_enabled = None, False
            checks.append(Check("database", False, str(exc).strip(), "upbit-llm migrate"))
        db.close()
        if mode is None:
            checks.append(Check("schema", False, "schema not applied", "upbit-llm migrate"))
        else:
            checks.append(Check("schema", True, f"database {settings.timescaledb_dbname!r} migrated, mode={mode}"))
            if mode == "timescaledb" and not ts_enabled:
                checks.append(
                    Check(
                        "timescaledb",
                        False,
                        "schema expects TimescaleDB but it is not enabled",
                        "install TimescaleDB, add it to shared_preload_libraries, restart PostgreSQL",
                    )
                )
    if ts:
        checks.append(Check("timescaledb", True, f"extension available (version {ts[0]})", required=False))
    else:
        fix = (
            "optional: run the timescale/timescaledb image (docker compose) for hypertables and continuous "
            "aggregates; plain PostgreSQL mode works without it"
        )
        checks.append(
            Check(
                "timescaledb",
                settings.timescaledb_mode != "on",
                "extension not installed: plain PostgreSQL mode",
                fix,
                required=settings.timescaledb_mode == "on",
            )
        )
    return checks


def _tcp(url: str, timeout: float) -> tuple[bool, str]:
    parsed = urlparse(url)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme in ("https", "wss") else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, f"{host}:{port} reachable"
    except OSError as exc:
        return False, f"{host}:{port} unreachable ({exc.__class__.__name__}: {exc})"


def collect(settings: Settings, timeout: float) -> list[Check]:
    from upbit_llm import services

    checks = _database_checks(settings)
    for st in (services.redis_status(settings), services.kafka_status(settings)):
        checks.append(Check(st.name, st.up, st.detail, st.fix))
    ok, detail = _tcp(settings.upbit_rest_url, timeout)
    checks.append(
        Check(
            "upbit-rest",
            ok,
            f"{settings.upbit_rest_url}: {detail}",
            ""
            if ok
            else "no route to Upbit: use `upbit-llm fake-upbit` and point UPBIT_REST_URL/"
            "UPBIT_WS_URL at it (make demo does this)",
            required=False,
        )
    )
    ok, detail = _tcp(settings.upbit_ws_url, timeout)
    checks.append(
        Check(
            "upbit-websocket",
            ok,
            f"{settings.upbit_ws_url}: {detail}",
            "" if ok else "same as above: the replay server speaks Upbit's WebSocket protocol",
            required=False,
        )
    )
    if settings.has_anthropic_key:
        checks.append(Check("anthropic", True, f"API key set; model {settings.anthropic_model}", required=False))
    else:
        checks.append(
            Check(
                "anthropic",
                True,
                "no ANTHROPIC_API_KEY: the offline analyst writes summaries",
                "set ANTHROPIC_API_KEY in .env to use Claude",
                required=False,
            )
        )
    return checks


def run(args: argparse.Namespace, settings: Settings) -> int:
    checks = collect(settings, args.timeout)
    failed_required = [c for c in checks if not c.ok and c.required]
    if args.json:
        print_json({"ok": not failed_required, "checks": [c.__dict__ for c in checks]})
    else:
        for c in checks:
            mark = "ok  " if c.ok else ("FAIL" if c.required else "warn")
            print(f"[{mark}] {c.name:<16} {c.detail}")
            if c.fix and (not c.ok or not c.required):
                print(f"       fix: {c.fix}")
        print(
            "all required services are ready"
            if not failed_required
            else f"{len(failed_required)} required check(s) failed — apply the fixes above"
        )
    return 0 if not failed_required else 1
