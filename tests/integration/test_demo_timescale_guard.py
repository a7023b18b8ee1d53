"""`make demo` on a machine whose PostgreSQL has TimescaleDB installed but not preloaded: auto mode falls back to
plain PostgreSQL instead of running CREATE EXTENSION (which crashes the server process and every session on it)."""

from __future__ import annotations

import psycopg2
import pytest

from db.migrate import migrate
from tests.conftest import _test_settings
from tests.support.private_postgres import PrivatePostgres

pytestmark = pytest.mark.integration


def test_auto_mode_uses_plain_postgres_when_timescaledb_is_installed_but_not_preloaded() -> None:
    try:
        pg = PrivatePostgres().init()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"no PostgreSQL server binaries to start a private cluster: {exc}")
    pg.start()
    try:
        admin = psycopg2.connect(host="127.0.0.1", port=pg.port, user="postgres", dbname="postgres")
        with admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
            if cur.fetchone() is None:
                pytest.skip("the timescaledb extension is not installed here: nothing to guard against")
        admin.close()
        settings = _test_settings(timescaledb_port=pg.port, timescaledb_dbname="guard", timescaledb_mode="auto")
        report = migrate(settings)
        assert report.mode == "postgres"
        conn = psycopg2.connect(settings.database_dsn())  # the server survived: a new session works
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")
            assert cur.fetchone() == (0,)
        conn.close()
    finally:
        pg.destroy()
