"""Real Celery processes for tests: worker, beat and Flower as subprocesses with Settings passed by environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from upbit_core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Celery tests own this Redis database (other areas' tests flush db 14 concurrently on a developer machine).
CELERY_TEST_REDIS = "redis://127.0.0.1:6379/11"

_PASSED = (
    "timescaledb_host",
    "timescaledb_port",
    "timescaledb_user",
    "timescaledb_dbname",
    "timescaledb_mode",
    "report_language",
    "anthropic_model",
    "anthropic_timeout_seconds",
    "anthropic_max_retries",
    "llm_max_output_tokens",
    "llm_max_context_tokens",
)


def fresh_redis_url() -> str:
    client = redis.Redis.from_url(CELERY_TEST_REDIS)
    client.flushdb()
    client.close()
    return CELERY_TEST_REDIS


def process_env(settings: Settings, *, redis_url: str, fake_url: str | None = None, **extra: Any) -> dict[str, str]:
    """The environment a worker/beat/Flower process needs to build the same Settings as the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "FLOWER_", "TIMESCALEDB_"))}
    for name in _PASSED:
        env[name.upper()] = str(getattr(settings, name))
    env["TIMESCALEDB_PASSWORD"] = settings.timescaledb_password.get_secret_value()
    env["ENVIRONMENT"] = "test"
    env["REDIS_URL"] = redis_url
    env["CELERY_RESULT_URL"] = redis_url
    env["ANTHROPIC_API_KEY"] = "sk-ant-test-key" if fake_url else ""
    if fake_url:
        env["ANTHROPIC_BASE_URL"] = fake_url
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for key, value in extra.items():
        env[key.upper()] = str(value)
    return env


@contextmanager
def running(
    args: list[str], env: dict[str, str], log_path: Path, *, cwd: Path = ROOT
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `python -m celery -A celery_app <args>` in its own process group; stop it warmly, then firmly."""
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_app", *args],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


@contextmanager
def worker(
    env: dict[str, str], log_path: Path, *, queues: str = "llm,scans,maintenance,alerts", concurrency: int = 2
) -> Iterator[str]:
    """A real prefork worker; yields its node name once it answers a ping."""
    from celery_app.application import create_app

    name = f"test-{uuid.uuid4().hex[:8]}@localhost"
    args = ["worker", "-Q", queues, "-c", str(concurrency), "-n", name, "--loglevel=INFO"]
    args += ["--without-gossip", "--without-mingle"]
    with running(args, env, log_path) as proc:
        client = create_app(Settings(_env_file=None, redis_url=env["REDIS_URL"]))  # type: ignore[call-arg]
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
            if client.control.ping(destination=[name], timeout=0.5):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
        yield name


def client_app(redis_url: str) -> Any:
    from celery_app.application import create_app

    return create_app(Settings(_env_file=None, redis_url=redis_url))  # type: ignore[call-arg]


def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
