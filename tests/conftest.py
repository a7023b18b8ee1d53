"""Shared fixtures: real services only. Unit tests (tests/unit) need none of these.

- `base_settings`: Settings for tests (environment=test, no .env influence from the developer's machine).
- `scratch_db`: a fresh database migrated by the real runner; yields Settings pointing at it; dropped after.
  Mode: plain PostgreSQL by default; `scratch_db_timescale` uses TIMESCALE_TEST_DSN when set (else skip).
- `kafka_bootstrap`: a Kafka-protocol broker (Tansu) on a free loopback port for the whole session.
- `redis_url`: the machine's Redis, on a database index the tests own (flushed before use).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import psycopg2
import pytest

from upbit_core.settings import Settings

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
# Parallel checkouts (git worktrees) running their suites at once each set their own Redis database index.
TEST_REDIS_URL = f"redis://127.0.0.1:6379/{os.environ.get('UPBIT_TEST_REDIS_DB', '14')}"


def _test_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "timescaledb_host": "127.0.0.1",
        "timescaledb_port": 5432,
        "timescaledb_user": "postgres",
        "timescaledb_password": "",
        "timescaledb_mode": "off",
        "anthropic_api_key": "",
        "redis_url": TEST_REDIS_URL,
        "report_language": "ko",
        # The first-start REST backfill would add minutes of background requests to every pipeline test.
        "backfill_on_start_hours": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return _test_settings()


def make_scratch_db(**overrides: object) -> Iterator[Settings]:
    from db.connection import drop_database
    from db.migrate import migrate

    name = f"test_{uuid.uuid4().hex[:12]}"
    settings = _test_settings(timescaledb_dbname=name, **overrides)
    migrate(settings)
    try:
        yield settings
    finally:
        drop_database(settings, name)


@pytest.fixture
def scratch_db() -> Iterator[Settings]:
    """A freshly migrated plain-PostgreSQL database (the CI mode)."""
    yield from make_scratch_db()


def timescale_overrides() -> dict[str, object] | None:
    dsn = os.environ.get("TIMESCALE_TEST_DSN")
    if not dsn:
        return None
    url = urlparse(dsn)
    try:
        psycopg2.connect(dsn, connect_timeout=2).close()
    except psycopg2.OperationalError:
        return None
    return {
        "timescaledb_host": url.hostname or "127.0.0.1",
        "timescaledb_port": url.port or 5432,
        "timescaledb_user": url.username or "postgres",
        "timescaledb_mode": "on",
    }


@pytest.fixture
def scratch_db_timescale() -> Iterator[Settings]:
    """A freshly migrated TimescaleDB-mode database; skipped when TIMESCALE_TEST_DSN is unset or down."""
    overrides = timescale_overrides()
    if overrides is None:
        pytest.skip("TimescaleDB mode not tested: set TIMESCALE_TEST_DSN to a PostgreSQL with the extension")
    yield from make_scratch_db(**overrides)


@pytest.fixture(params=["postgres", pytest.param("timescaledb", marks=pytest.mark.timescaledb)])
def scratch_db_each_mode(request: pytest.FixtureRequest) -> Settings:
    """`scratch_db`, then `scratch_db_timescale` (which skips without TIMESCALE_TEST_DSN): one test, both modes."""
    name = "scratch_db" if request.param == "postgres" else "scratch_db_timescale"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Tansu Kafka-protocol broker (in-memory) on a free loopback port, for the whole test session."""
    from upbit_llm.services import free_port, spawn_tansu

    port = free_port()
    log_path = tmp_path_factory.mktemp("tansu") / "tansu.log"
    proc = spawn_tansu("127.0.0.1", port, log_path)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def redis_url() -> str:
    import redis

    url = TEST_REDIS_URL
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail("Redis is not running on 127.0.0.1:6379 — run `upbit-llm services up`")
    client.flushdb()
    return url


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
