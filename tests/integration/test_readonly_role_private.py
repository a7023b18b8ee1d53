"""The read-only role on a private, password-authenticated PostgreSQL with `log_statement = all` (the shared
server is never reconfigured): the password never reaches the server log, the role reaches only its database,
cannot create temporary tables, and readers never fall back to the writer role."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest
from pydantic import SecretStr

from db.connection import DatabaseUnavailable
from db.migrate import migrate, scram_verifier
from tests.support.private_postgres import PrivatePostgres
from upbit_core.settings import Settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SUPER_PASSWORD = "writer-" + os.urandom(8).hex()
READER_PASSWORD = "reader-" + os.urandom(8).hex()


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[PrivatePostgres, Settings]]:
    try:
        pg = PrivatePostgres().init(password=SUPER_PASSWORD)
    except RuntimeError as exc:
        pytest.skip(str(exc))
    script = (ROOT / "db/docker/10-reader-hba.sh").read_text()
    # The same script compose runs in /docker-entrypoint-initdb.d.
    pg.run_as_owner(
        ["sh", "-c", script], {"PGDATA": str(pg.data), "POSTGRES_DB": "coin", "READONLY_USER": "upbit_reader"}
    )
    pg.start({"log_statement": "all"})
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="production",
        timescaledb_host="127.0.0.1",
        timescaledb_port=pg.port,
        timescaledb_user="postgres",
        timescaledb_password=SecretStr(SUPER_PASSWORD),
        timescaledb_dbname="coin",
        timescaledb_mode="off",
        readonly_password=SecretStr(READER_PASSWORD),
        flower_password=SecretStr("f"),
        mcp_token=SecretStr("m"),
    )
    migrate(settings)
    migrate(settings)  # every deploy re-applies the role: twice must behave the same
    try:
        yield pg, settings
    finally:
        pg.destroy()


def test_the_read_only_password_never_appears_in_a_statement_log(cluster: tuple[PrivatePostgres, Settings]) -> None:
    pg, settings = cluster
    reader = psycopg2.connect(settings.readonly_dsn())
    reader.close()
    log = pg.log.read_text(errors="replace")
    assert "set_config" in log and "statement:" in log  # statements really are logged
    assert "SCRAM-SHA-256$4096:" in log  # what migrate sends instead: a verifier nobody can log in with
    assert READER_PASSWORD not in log
    assert SUPER_PASSWORD not in log


def test_the_verifier_is_what_postgresql_would_store() -> None:
    verifier = scram_verifier("pencil", salt=b"0123456789abcdef")
    method, rest = verifier.split("$", 1)
    assert method == "SCRAM-SHA-256" and rest.startswith("4096:MDEyMzQ1Njc4OWFiY2RlZg==$")


def test_the_reader_logs_in_with_its_password_to_its_database_only(cluster: tuple[PrivatePostgres, Settings]) -> None:
    _pg, settings = cluster
    conn = psycopg2.connect(settings.readonly_dsn())
    with conn.cursor() as cur:
        cur.execute("SELECT current_user, current_setting('statement_timeout')")
        assert cur.fetchone() == ("upbit_reader", "2s")
    conn.close()
    wrong = settings.model_copy(update={"readonly_password": SecretStr("not-it")})
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(wrong.readonly_dsn())
    for elsewhere in ("postgres", "template1"):
        with pytest.raises(psycopg2.OperationalError, match="pg_hba.conf rejects"):
            psycopg2.connect(settings.readonly_dsn(elsewhere))
    # The writer still reaches the maintenance database (migrate and doctor use it).
    psycopg2.connect(settings.database_dsn("postgres")).close()


def test_the_reader_cannot_create_temporary_tables_but_the_writer_still_can(
    cluster: tuple[PrivatePostgres, Settings],
) -> None:
    _pg, settings = cluster
    conn = psycopg2.connect(settings.readonly_dsn())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("CREATE TEMP TABLE fill_the_disk (a int)")
    conn.close()
    writer = psycopg2.connect(settings.database_dsn())
    with writer, writer.cursor() as cur:
        cur.execute("CREATE TEMP TABLE ticker_staging_probe (a int)")  # the consumer's staging path
    writer.close()


def test_a_raised_statement_timeout_lasts_only_for_that_session(cluster: tuple[PrivatePostgres, Settings]) -> None:
    """PostgreSQL lets any role SET its own statement_timeout (documented in docs/security.md); what we can
    guarantee is that every new session starts at the role's limit."""
    _pg, settings = cluster
    conn = psycopg2.connect(settings.readonly_dsn())
    with conn.cursor() as cur:
        cur.execute("SET statement_timeout = 0")
    conn.close()
    fresh = psycopg2.connect(settings.readonly_dsn())
    with fresh.cursor() as cur:
        cur.execute("SHOW statement_timeout")
        assert cur.fetchone() == ("2s",)
    fresh.close()


def test_readers_with_a_wrong_password_fail_instead_of_reading_as_the_writer(
    cluster: tuple[PrivatePostgres, Settings],
) -> None:
    from dashboard.database import ReadPool
    from upbit_mcp.db import DatabaseError, ReadOnlyPool

    _pg, settings = cluster
    wrong = settings.model_copy(
        update={"readonly_password": SecretStr("not-it"), "readonly_fallback_to_writer": True}  # ignored: production
    )
    pool = ReadPool(wrong)
    with pytest.raises(DatabaseUnavailable, match="never reads as the writer"):
        with pool.connection():
            pass
    mcp = ReadOnlyPool(wrong)
    with pytest.raises(DatabaseError):
        mcp.run_sync(lambda conn: None)
