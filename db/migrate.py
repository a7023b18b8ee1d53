"""The migration runner: numbered SQL files applied once, in order, under an advisory lock.

Layout (after timescale/tiger-slack):
- `migrations/incremental/NNN-name.sql` is applied once and recorded in `schema_migrations`. A file may have
  mode variants `NNN-name.timescaledb.sql` / `NNN-name.postgres.sql`; the one for the database's mode is used.
  Applied files are immutable: a changed checksum is reported, never re-applied. A file numbered below the
  newest applied one that was never applied is refused (out of order).
- `migrations/idempotent/*.sql` (views, functions, grants, policies) is re-applied on every run, in name order.

A file whose first lines contain `-- migrate: no-transaction` runs statement by statement in autocommit
(TimescaleDB refuses `CREATE MATERIALIZED VIEW ... WITH (timescaledb.continuous)` inside a transaction block).

Settings reach SQL as session variables (`upbit.retention_days`, `upbit.readonly_user`, ...), read with
`current_setting()`, so no SQL is built by string formatting.

Mode: `TIMESCALEDB_MODE=auto` uses TimescaleDB when `CREATE EXTENSION timescaledb` succeeds. The mode chosen on
the first run is recorded in `schema_meta` and never silently switched afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import psycopg2
import psycopg2.extensions

from db.connection import connect, ensure_database
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
ADVISORY_LOCK_KEY = 0x5550_4249_544C_4C4D  # "UPBITLLM" — one runner at a time per database
Mode = Literal["timescaledb", "postgres"]
_FILE_RE = re.compile(r"^(?P<number>\d{3})-(?P<name>[a-z0-9_\-]+?)(?:\.(?P<variant>timescaledb|postgres))?\.sql$")


class MigrationError(RuntimeError):
    """A migration cannot be applied; the message says why and what to do."""


@dataclass(frozen=True)
class MigrationFile:
    number: int
    name: str
    path: Path
    variant: Mode | None

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    @property
    def no_transaction(self) -> bool:
        head = "\n".join(self.sql.splitlines()[:5])
        return "-- migrate: no-transaction" in head


@dataclass
class MigrationReport:
    mode: Mode
    database: str
    created_database: bool = False
    applied: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    idempotent: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "database": self.database,
            "created_database": self.created_database,
            "applied": self.applied,
            "changed_after_apply": self.changed,
            "idempotent_reapplied": self.idempotent,
        }


def discover(folder: Path, mode: Mode) -> list[MigrationFile]:
    """The files of one folder for one mode, in order; mode variants replace the generic file."""
    chosen: dict[int, MigrationFile] = {}
    for path in sorted(folder.glob("*.sql")):
        m = _FILE_RE.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files must be named NNN-name[.timescaledb|.postgres].sql")
        variant = m.group("variant")
        if variant is not None and variant != mode:
            continue
        number = int(m.group("number"))
        candidate = MigrationFile(number, m.group("name"), path, variant)
        previous = chosen.get(number)
        if previous is not None:
            if previous.name != candidate.name:
                raise MigrationError(f"two migrations share number {number:03d}: {previous.path.name}, {path.name}")
            if previous.variant is not None and candidate.variant is None:
                continue
        chosen[number] = candidate
    return [chosen[n] for n in sorted(chosen)]


def split_statements(sql: str) -> list[str]:
    """Split SQL into statements, respecting quotes, dollar quoting and comments."""
    statements: list[str] = []
    buf: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end == -1 else end
            buf.append(sql[i:end])
            i = end
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end == -1 else end + 2
            buf.append(sql[i:end])
            i = end
            continue
        if ch in ("'", '"'):
            end = i + 1
            while end < n:
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:
                        end += 2
                        continue
                    break
                end += 1
            buf.append(sql[i : end + 1])
            i = end + 1
            continue
        if ch == "$":
            m = re.match(r"\$[A-Za-z_]*\$", sql[i:])
            if m:
                tag = m.group(0)
                end = sql.find(tag, i + len(tag))
                end = n if end == -1 else end + len(tag)
                buf.append(sql[i:end])
                i = end
                continue
        if ch == ";":
            stmt = "".join(buf).strip()
            if _has_code(stmt):
                statements.append(stmt)
            buf = []
            i += 1
            continue
        buf.append(ch)
        i += 1
    tail = "".join(buf).strip()
    if _has_code(tail):
        statements.append(tail)
    return statements


def _has_code(stmt: str) -> bool:
    without_comments = re.sub(r"--[^\n]*", "", stmt)
    without_comments = re.sub(r"/\*.*?\*/", "", without_comments, flags=re.S)
    return bool(without_comments.strip())


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, PostgreSQL's text format).

    `ALTER ROLE ... PASSWORD '<verifier>'` stores it as is, so the password itself never travels in a statement:
    with `log_statement = all` the server log shows only the verifier, from which no one can log in (this is what
    psql's \\password does). The password is NFKC-normalised, which equals SASLprep for the passwords people use."""
    salt = salt if salt is not None else os.urandom(16)
    normalised = unicodedata.normalize("NFKC", password).encode("utf-8")
    salted = hashlib.pbkdf2_hmac("sha256", normalised, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored_key).decode()}:{b64(server_key).decode()}"


def _session_variables(settings: Settings) -> dict[str, str]:
    password = settings.readonly_password.get_secret_value()
    return {
        "upbit.retention_days": str(settings.ticker_retention_days),
        "upbit.readonly_user": settings.readonly_user,
        # Only a verifier is sent (see scram_verifier): statement logs never hold the read-only password.
        "upbit.readonly_password": scram_verifier(password) if password else "",
        "upbit.readonly_statement_timeout_ms": str(settings.readonly_statement_timeout_ms),
    }


def _set_session_variables(cur: psycopg2.extensions.cursor, settings: Settings) -> None:
    for key, value in _session_variables(settings).items():
        cur.execute("SELECT set_config(%s, %s, false)", (key, value))


def _recorded_mode(cur: psycopg2.extensions.cursor) -> Mode | None:
    cur.execute("SELECT to_regclass('public.schema_meta') IS NOT NULL")
    row = cur.fetchone()
    if not row or not row[0]:
        return None
    cur.execute("SELECT value FROM schema_meta WHERE key = 'mode'")
    found = cur.fetchone()
    return found[0] if found else None


def _extension_available(cur: psycopg2.extensions.cursor) -> bool:
    cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    return cur.fetchone() is not None


def _try_enable_timescaledb(conn: psycopg2.extensions.connection) -> tuple[bool, str]:
    """CREATE EXTENSION timescaledb in its own transaction; (ok, reason)."""
    with conn.cursor() as cur:
        if not _extension_available(cur):
            conn.rollback()
            return False, "the timescaledb extension is not installed on this PostgreSQL server"
        # Installed but not preloaded: CREATE EXTENSION then crashes the server process (and with it every
        # session on the server, e.g. PostgreSQL 15 + TimescaleDB 2.28), so never try it in that state.
        cur.execute("SELECT current_setting('shared_preload_libraries')")
        row = cur.fetchone()
        if "timescaledb" not in (row[0] if row else ""):
            conn.rollback()
            return False, "the timescaledb extension is installed but not in shared_preload_libraries"
        try:
            cur.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.commit()
            return True, "ok"
        except psycopg2.Error as exc:
            conn.rollback()
            first = (exc.pgerror or str(exc)).strip().splitlines()[0]
            return False, first


def choose_mode(conn: psycopg2.extensions.connection, settings: Settings) -> Mode:
    """Decide the database mode from TIMESCALEDB_MODE, what is recorded, and what the server offers."""
    with conn.cursor() as cur:
        recorded = _recorded_mode(cur)
    conn.rollback()
    wanted = settings.timescaledb_mode
    if recorded is not None:
        if wanted == "on" and recorded != "timescaledb":
            raise MigrationError(
                "this database was created in plain PostgreSQL mode; TIMESCALEDB_MODE=on needs a new database "
                "(set TIMESCALEDB_DBNAME to a fresh name and run `upbit-llm migrate` again)"
            )
        if wanted == "off" and recorded == "timescaledb":
            raise MigrationError(
                "this database uses TimescaleDB; TIMESCALEDB_MODE=off cannot undo that (use TIMESCALEDB_MODE=auto)"
            )
        if recorded == "timescaledb":
            ok, reason = _try_enable_timescaledb(conn)
            if not ok:
                raise MigrationError(
                    f"this database was created with TimescaleDB but the extension is unusable now: {reason} — "
                    "install TimescaleDB and add it to shared_preload_libraries, then restart PostgreSQL"
                )
        return recorded
    if wanted == "off":
        return "postgres"
    ok, reason = _try_enable_timescaledb(conn)
    if ok:
        return "timescaledb"
    if wanted == "on":
        raise MigrationError(
            f"TIMESCALEDB_MODE=on but TimescaleDB is not usable: {reason} — use the timescale/timescaledb image "
            "(docker compose) or set TIMESCALEDB_MODE=auto to run on plain PostgreSQL"
        )
    log.info("timescaledb unavailable, using plain postgres mode reason=%s", reason)
    return "postgres"


def _bootstrap(cur: psycopg2.extensions.cursor, mode: Mode) -> None:
    cur.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            file       text NOT NULL,
            checksum   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE IF NOT EXISTS schema_meta (
            key   text PRIMARY KEY,
            value text NOT NULL
        );
        """
    )
    cur.execute(
        "INSERT INTO schema_meta (key, value) VALUES ('mode', %s) ON CONFLICT (key) DO NOTHING",
        (mode,),
    )


def _apply_file(conn: psycopg2.extensions.connection, settings: Settings, mf: MigrationFile) -> None:
    """Run one file; transactional files run in the caller's transaction, others statement by statement."""
    if mf.no_transaction:
        conn.commit()
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                _set_session_variables(cur, settings)
                for stmt in split_statements(mf.sql):
                    cur.execute(stmt)
        finally:
            conn.autocommit = False
    else:
        with conn.cursor() as cur:
            _set_session_variables(cur, settings)
            cur.execute(mf.sql)


def migrate(settings: Settings, *, dbname: str | None = None, migrations_dir: Path | None = None) -> MigrationReport:
    """Create the database if needed and bring its schema up to date. Safe to run any number of times."""
    name = dbname or settings.timescaledb_dbname
    folder = migrations_dir or MIGRATIONS_DIR
    created = ensure_database(settings, name)
    conn = connect(settings, dbname=name, application_name="upbit-llm-migrate")
    try:
        with conn.cursor() as cur:
            # Session-level lock: held across the autocommit statements of no-transaction files too.
            cur.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        conn.commit()
        try:
            mode = choose_mode(conn, settings)
            report = MigrationReport(mode=mode, database=name, created_database=created)
            with conn.cursor() as cur:
                _bootstrap(cur, mode)
                cur.execute("SELECT version, file, checksum FROM schema_migrations ORDER BY version")
                applied = {int(v): (f, c) for v, f, c in cur.fetchall()}
            conn.commit()
            files = discover(folder / "incremental", mode)
            newest = max(applied, default=0)
            for mf in files:
                if mf.number in applied:
                    file_name, checksum = applied[mf.number]
                    if checksum != mf.checksum:
                        report.changed.append(mf.path.name)
                        log.warning(
                            "applied migration changed file=%s recorded_as=%s — migrations are immutable; "
                            "add a new numbered file instead",
                            mf.path.name,
                            file_name,
                        )
                    continue
                if mf.number < newest:
                    raise MigrationError(
                        f"{mf.path.name} is numbered below the newest applied migration ({newest:03d}); "
                        "renumber it after the newest one"
                    )
                try:
                    _apply_file(conn, settings, mf)
                    with conn.cursor() as cur:
                        cur.execute(
                            "INSERT INTO schema_migrations (version, name, file, checksum) VALUES (%s, %s, %s, %s)",
                            (mf.number, mf.name, mf.path.name, mf.checksum),
                        )
                    conn.commit()
                except psycopg2.Error as exc:
                    conn.rollback()
                    raise MigrationError(f"{mf.path.name} failed: {exc.pgerror or exc}".strip()) from exc
                report.applied.append(mf.path.name)
                log.info("applied migration file=%s mode=%s", mf.path.name, mode)
            for mf in discover(folder / "idempotent", mode):
                try:
                    _apply_file(conn, settings, mf)
                    conn.commit()
                except psycopg2.Error as exc:
                    conn.rollback()
                    raise MigrationError(f"idempotent/{mf.path.name} failed: {exc.pgerror or exc}".strip()) from exc
                report.idempotent.append(mf.path.name)
            return report
        finally:
            conn.rollback()
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
            conn.commit()
    finally:
        conn.close()


def current_mode(conn: psycopg2.extensions.connection) -> Mode | None:
    """The mode recorded by the runner, or None if the database was never migrated."""
    with conn.cursor() as cur:
        mode = _recorded_mode(cur)
    conn.rollback()
    return mode
