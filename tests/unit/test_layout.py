"""The project's shape: `import mcp` is the SDK, every subcommand has --help, settings keep the seed's names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from upbit_core.settings import Settings
from upbit_llm.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[2]


def test_import_mcp_resolves_to_the_official_sdk_not_our_folder() -> None:
    import mcp

    assert "site-packages" in str(Path(mcp.__file__)), mcp.__file__
    assert not (ROOT / "mcp" / "__init__.py").exists()
    assert hasattr(mcp, "ClientSession")
    import upbit_mcp

    assert Path(upbit_mcp.__file__).parent == ROOT / "mcp" / "upbit_mcp"


def test_cli_declares_every_contracted_subcommand() -> None:
    contract = {
        "migrate",
        "doctor",
        "services",
        "ingest",
        "consume",
        "backfill",
        "fake-upbit",
        "scan",
        "anomalies",
        "summary",
        "ask",
        "tokens",
        "costs",
        "verify-answer",
        "mcp",
        "web",
        "demo",
        "bench",
    }
    assert set(COMMANDS) == contract


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_prints_help(command: str) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args([command, "--help"] if command != "services" else ["services", "--help"])
    assert exc.value.code == 0


def test_console_script_help_runs_in_a_fresh_process() -> None:
    out = subprocess.run([sys.executable, "-m", "upbit_llm", "--help"], capture_output=True, text=True, check=True)
    assert "migrate" in out.stdout and "fake-upbit" in out.stdout


def test_seed_variable_names_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "KAFKA_SERVERS": "k1:9092,k2:9093",
        "KAFKA_TOPIC": "t1",
        "KAFKA_GROUP_ID": "g1",
        "TIMESCALEDB_DBNAME": "coin2",
        "TIMESCALEDB_USER": "u",
        "TIMESCALEDB_PASSWORD": "p@ss word",
        "TIMESCALEDB_HOST": "db",
        "TIMESCALEDB_PORT": "6543",
        "UPBIT_QUOTES": "krw, btc",
        "REPORT_LANGUAGE": "en",
        "TIMESCALEDB_MODE": "on",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.kafka_bootstrap == ["k1:9092", "k2:9093"]
    assert (s.kafka_topic, s.kafka_group_id, s.timescaledb_dbname) == ("t1", "g1", "coin2")
    assert s.quote_currencies == ["KRW", "BTC"]
    assert s.report_language == "en" and s.timescaledb_mode == "on"
    assert s.database_dsn() == "postgresql://u:p%40ss%20word@db:6543/coin2"


def test_defaults_match_the_documented_contract() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.kafka_topic == "upbit_ticker"
    assert s.timescaledb_dbname == "coin"
    assert s.upbit_ws_url == "wss://api.upbit.com/websocket/v1"
    assert s.upbit_rest_url == "https://api.upbit.com"
    assert s.upbit_quotes == "KRW" and s.report_language == "ko" and s.timescaledb_mode == "auto"
    assert Settings(_env_file=None, upbit_quotes="ALL").quote_currencies is None  # type: ignore[call-arg]


def test_secrets_never_appear_in_reprs_or_redacted_output() -> None:
    s = Settings(_env_file=None, anthropic_api_key="sk-ant-very-secret", timescaledb_password="hunter2")  # type: ignore[call-arg]
    text = repr(s) + str(s.redacted())
    assert "sk-ant-very-secret" not in text and "hunter2" not in text
    assert s.redacted()["ANTHROPIC_API_KEY"] == "set (hidden)"


def test_placeholder_secrets_are_refused_in_production() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        Settings(_env_file=None, environment="production", flower_password="changethis")  # type: ignore[call-arg]


def test_env_example_documents_every_setting_in_one_line_each() -> None:
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    documented = {line.split("=", 1)[0].lstrip("# ").strip() for line in lines if "=" in line}
    missing = {name.upper() for name in Settings.model_fields} - documented
    assert not missing, f".env.example lacks {sorted(missing)}"
