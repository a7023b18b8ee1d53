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
    for name in ("ingest", "consumer", "worker", "beat", "flower", "mcp"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["kafka"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["timescaledb"]["condition"] == "service_healthy"


def test_required_secrets_fail_loudly_when_unset() -> None:
    text = COMPOSE.read_text()
    for var in ("TIMESCALEDB_PASSWORD", "FLOWER_PASSWORD", "MCP_TOKEN"):
        assert f"${{{var}:?" in text, var


def test_published_ports_bind_loopback_only() -> None:
    for name, svc in _compose()["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all interfaces"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed")
def test_docker_compose_config_validates_offline() -> None:
    env = {**os.environ, "TIMESCALEDB_PASSWORD": "x", "FLOWER_PASSWORD": "x", "MCP_TOKEN": "x"}
    out = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    missing = {k: v for k, v in env.items() if k not in ("FLOWER_PASSWORD",)}
    out = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "-q"],
        cwd=ROOT,
        env=missing,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode != 0 and "FLOWER_PASSWORD" in out.stderr + out.stdout or "Variable not set" in out.stderr
