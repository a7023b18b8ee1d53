"""`upbit-llm demo --duration N` stops by itself and cleanly; a missing service stops it early with the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_scratch_db
from tests.integration.test_demo_run import processes_with_marker, start_demo
from upbit_core.settings import PROJECT_ROOT
from upbit_llm.services import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_with_a_duration_stops_by_itself_with_no_leftovers(tmp_path: Path, kafka_bootstrap: str) -> None:
    gen = make_scratch_db()
    settings = next(gen)
    try:
        flags = ("--duration", "20", "--no-web", "--first-summary-after", "0")
        run = start_demo(tmp_path, settings, kafka_bootstrap, *flags)
        code = run.proc.wait(timeout=180)
        out = run.output()
        assert code == 0, out
        assert "stopped (duration elapsed)" in out and "leftover processes: 0" in out
        assert "[supervisor] celery-worker: started" in out and "[supervisor] celery-worker: stopped" in out
        assert processes_with_marker(run.marker) == []
        assert (run.log_dir / "celery-worker.log").exists()
    finally:
        for _ in gen:
            pass


def test_demo_without_its_database_says_what_to_do_and_starts_nothing(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "TIMESCALEDB_PORT": str(free_port()),
        "KAFKA_SERVERS": f"127.0.0.1:{free_port()}",
        "RUN_DIR": str(tmp_path),
    }
    res = subprocess.run(
        [sys.executable, "-m", "upbit_llm", "demo", "--skip-services", "--log-dir", str(tmp_path / "logs")],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 1
    assert "[FAIL] postgres" in res.stderr and "Fix: upbit-llm services up" in res.stderr
    assert "[FAIL] kafka" in res.stderr
    assert not (tmp_path / "logs" / "consume.log").exists()
