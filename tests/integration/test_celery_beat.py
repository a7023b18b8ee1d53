"""Worker + beat (real processes) with a fast test schedule produce summaries of simulator data on schedule."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg2
import pytest

from tests.support.analyst_data import filled_database
from tests.support.celery_procs import fresh_redis_url, process_env, running, wait_for, worker
from tests.support.fake_anthropic import FakeAnthropic
from upbit_core.settings import Settings

pytestmark = pytest.mark.slow

INTERVAL = 5


@pytest.fixture(scope="module")
def market_db() -> Iterator[Settings]:
    yield from filled_database()


def summaries(settings: Settings) -> list[tuple[str, object, object, bool]]:
    conn = psycopg2.connect(settings.database_dsn())
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT window_key, window_end, created_at, offline FROM llm_results "
                "WHERE kind = 'market_summary' ORDER BY window_end"
            )
            return list(cur.fetchall())
    finally:
        conn.close()


def test_beat_schedules_a_summary_every_interval_and_the_worker_stores_one_per_window(
    market_db: Settings, tmp_path: Path
) -> None:
    with FakeAnthropic() as fake:
        env = process_env(
            market_db,
            redis_url=fresh_redis_url(),
            fake_url=fake.url,
            summary_interval_seconds=INTERVAL,
            anomaly_scan_interval_seconds=3600,  # the anomaly team's scan is tested in its own suite
            aggregate_refresh_interval_seconds=INTERVAL,
        )
        beat_args = ["beat", "-s", str(tmp_path / "beat-schedule"), "--max-interval", "1", "--loglevel=INFO"]
        with (
            worker(env, tmp_path / "worker.log", queues="llm,maintenance"),
            running(beat_args, env, tmp_path / "beat.log"),
        ):
            rows = wait_for(
                lambda: r if len(r := summaries(market_db)) >= 3 else None, timeout=45, what="three summaries"
            )
        beat_log = (tmp_path / "beat.log").read_text(errors="replace")
        worker_log = (tmp_path / "worker.log").read_text(errors="replace")
    keys = [r[0] for r in rows]
    assert len(set(keys)) == len(keys) and all(k.startswith(f"{INTERVAL}s@") for k in keys)
    ends = [r[1] for r in rows]
    gaps = [(b - a).total_seconds() for a, b in zip(ends, ends[1:], strict=False)]  # type: ignore[operator]
    assert all(g > 0 and g % INTERVAL == 0 for g in gaps), rows
    assert sum(1 for g in gaps if g == INTERVAL) >= 1
    for _, end, created, offline in rows:
        assert not offline
        # stored soon after its window closed; the slack covers a worker process's first call (SDK import) on a
        # loaded 2-core CI machine — being on schedule is shown by the consecutive windows above
        assert timedelta(0) <= created - end < timedelta(seconds=20), rows  # type: ignore[operator]
    assert len(fake.message_requests()) == len(rows)
    assert "Sending due task market-summary (celery_app.tasks.summary.market_summary)" in beat_log
    assert "celery_app.tasks.maintenance.refresh_aggregates" in worker_log
