"""Real Flower (`celery -A celery_app flower`) with basic auth from settings; it refuses to start without a password."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.celery_procs import ROOT, fresh_redis_url, process_env, running, wait_for
from upbit_core.settings import Settings
from upbit_llm.services import free_port

pytestmark = pytest.mark.slow


def test_flower_api_answers_with_credentials_and_refuses_without(base_settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    env = process_env(base_settings, redis_url=fresh_redis_url(), flower_user="ops", flower_password="s3cret-test")
    with running(["flower", f"--port={port}", "--address=127.0.0.1"], env, tmp_path / "flower.log") as proc:
        url = f"http://127.0.0.1:{port}/api/workers"

        def up() -> httpx.Response | None:
            if proc.poll() is not None:
                raise AssertionError((tmp_path / "flower.log").read_text(errors="replace"))
            try:
                return httpx.get(url, auth=("ops", "s3cret-test"), timeout=2)
            except httpx.TransportError:
                return None

        ok = wait_for(up, timeout=40, what="Flower to listen")
        assert ok.status_code == 200 and isinstance(ok.json(), dict)
        assert httpx.get(url, timeout=5).status_code == 401
        assert httpx.get(url, auth=("ops", "wrong"), timeout=5).status_code == 401
        assert httpx.get(f"http://127.0.0.1:{port}/api/tasks", timeout=5).status_code == 401
        metrics = f"http://127.0.0.1:{port}/metrics"
        assert httpx.get(metrics, timeout=5).status_code == 401  # Flower serves it open unless we protect it
        assert httpx.get(metrics, auth=("ops", "wrong"), timeout=5).status_code == 401
        assert "flower_" in httpx.get(metrics, auth=("ops", "s3cret-test"), timeout=5).text


def test_flower_refuses_to_start_without_a_password(base_settings: Settings) -> None:
    env = process_env(base_settings, redis_url=fresh_redis_url(), flower_password="")
    out = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "celery_app", "flower", f"--port={free_port()}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "FLOWER_PASSWORD is not set" in out.stderr + out.stdout
