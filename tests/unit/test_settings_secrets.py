"""Secrets never show in a Settings repr, in `redacted()` (what `doctor` and logs print), or in log lines."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from upbit_core.settings import Settings, mask_url_password


def _settings() -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="test",
        redis_url="redis://:redis-pass-123@cache.internal:6380/2",
        celery_result_url="redis://user:result-pass-456@cache.internal:6380/3",
        alert_webhook_url="https://hooks.example/T000/B000/hook-token-789",
        alert_webhook_secret=SecretStr("sig-secret"),
        slack_webhook_url=SecretStr("https://hooks.slack.com/services/T/B/slack-token-000"),
        readonly_password=SecretStr("reader-pass-111"),
        timescaledb_password=SecretStr("writer-pass-222"),
    )


SECRETS = ("redis-pass-123", "result-pass-456", "hook-token-789", "slack-token-000", "reader-pass-111", "sig-secret")


def test_repr_str_and_redacted_never_show_a_secret_or_a_url_credential(caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings()
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("settings=%s %r redacted=%s", settings, settings, settings.redacted())
    shown = repr(settings) + str(settings) + str(settings.redacted()) + caplog.text
    for secret in SECRETS:
        assert secret not in shown, secret
    redacted = settings.redacted()
    assert redacted["REDIS_URL"] == "redis://:***@cache.internal:6380/2"
    assert redacted["CELERY_RESULT_URL"] == "redis://user:***@cache.internal:6380/3"
    assert redacted["ALERT_WEBHOOK_URL"] == "set (hidden)"


def test_a_url_without_a_password_is_shown_as_is() -> None:
    assert mask_url_password("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_doctor_output_never_shows_the_redis_password_or_webhook_urls() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "REDIS_URL": "redis://:redis-pass-123@127.0.0.1:1/0",  # nothing listens: the failure text is printed too
        "ALERT_WEBHOOK_URL": "https://hooks.example/T000/B000/hook-token-789",
        "ALERT_WEBHOOK_SECRET": "sig-secret",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/slack-token-000",
        "TIMESCALEDB_PORT": "1",
        "KAFKA_SERVERS": "127.0.0.1:1",
    }
    for args in (["doctor"], ["doctor", "--json"]):
        out = subprocess.run(
            [sys.executable, "-m", "upbit_llm", *args],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        shown = out.stdout + out.stderr
        assert "redis" in shown.lower()
        for secret in ("redis-pass-123", "hook-token-789", "slack-token-000", "sig-secret"):
            assert secret not in shown, (args, secret)
