"""What `upbit-llm demo` runs: children, order, environment, ports and generated credentials (no services needed)."""

from __future__ import annotations

import socket
from pathlib import Path

from upbit_core.settings import Settings
from upbit_llm.demo.children import DemoOptions, build_plan, mcp_config_line, pick_port, settings_env


def _settings(**kw: object) -> Settings:
    return Settings(_env_file=None, environment="test", **kw)  # type: ignore[call-arg]


def test_the_simulated_demo_runs_history_before_the_simulator_and_points_ingest_at_it(tmp_path: Path) -> None:
    plan = build_plan(_settings(), DemoOptions(log_dir=tmp_path / "logs"), base_env={"PATH": "/usr/bin"})
    names = [s.name for s in plan.specs]
    assert names[:4] == ["consume", "history", "fake-upbit", "ingest"]
    assert {"celery-worker", "celery-beat", "flower", "mcp", "web"} <= set(names)
    fake = next(s for s in plan.specs if s.name == "fake-upbit")
    port = fake.argv[fake.argv.index("--port") + 1]
    assert plan.env["UPBIT_WS_URL"] == f"ws://127.0.0.1:{port}/websocket/v1"
    assert plan.env["UPBIT_REST_URL"] == f"http://127.0.0.1:{port}"
    assert "--first-event" in fake.argv and "--labels" in fake.argv
    history = next(s for s in plan.specs if s.name == "history")
    assert history.oneshot and not history.restart
    worker = next(s for s in plan.specs if s.name == "celery-worker")
    assert "llm,maintenance" in worker.argv
    # Scans and alert deliveries have their own worker: a slow interpretation never holds a Slack alert.
    fast = next(s for s in plan.specs if s.name == "celery-alerts")
    assert "scans,alerts" in fast.argv


def test_live_demo_has_no_simulator_and_keeps_the_real_upbit_urls(tmp_path: Path) -> None:
    plan = build_plan(_settings(), DemoOptions(live=True, log_dir=tmp_path), base_env={})
    names = {s.name for s in plan.specs}
    assert "fake-upbit" not in names and "history" not in names
    assert plan.env["UPBIT_WS_URL"] == "wss://api.upbit.com/websocket/v1"


def test_flower_and_mcp_credentials_are_generated_when_unset_and_kept_when_set(tmp_path: Path) -> None:
    generated = build_plan(_settings(), DemoOptions(log_dir=tmp_path), base_env={})
    assert generated.flower_password_generated and len(generated.flower_password) >= 12
    assert generated.mcp_token_generated and generated.env["MCP_TOKEN"] == generated.mcp_token
    flower = next(s for s in generated.specs if s.name == "flower")
    assert flower.env is not None and flower.env["FLOWER_BASIC_AUTH"] == f"admin:{generated.flower_password}"
    chosen = build_plan(
        _settings(flower_password="my-flower-pw", mcp_token="my-token"), DemoOptions(log_dir=tmp_path), base_env={}
    )
    assert not chosen.flower_password_generated and chosen.flower_password == "my-flower-pw"
    assert chosen.mcp_token == "my-token"
    line = mcp_config_line("http://127.0.0.1:8765/mcp", "my-token")
    assert line.startswith("claude mcp add --transport http upbit-llm http://127.0.0.1:8765/mcp")
    assert line.endswith('--header "Authorization: Bearer my-token"')


def test_a_busy_preferred_port_is_replaced_by_a_free_one() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert pick_port("127.0.0.1", taken) != taken


def test_children_see_every_setting_including_secrets_as_environment_variables() -> None:
    env = settings_env(_settings(flower_password="pw", timescaledb_dbname="demo_x"))
    assert env["FLOWER_PASSWORD"] == "pw" and env["TIMESCALEDB_DBNAME"] == "demo_x"
    assert env["SUMMARY_INTERVAL_SECONDS"] == "300"


def test_no_web_and_no_flower_leave_those_children_out(tmp_path: Path) -> None:
    plan = build_plan(_settings(), DemoOptions(log_dir=tmp_path, web=False, flower=False), base_env={})
    names = {s.name for s in plan.specs}
    assert "web" not in names and "flower" not in names


def test_the_status_line_shows_rate_rows_summary_and_anomalies_and_question_marks_for_unknowns() -> None:
    from datetime import UTC, datetime, timedelta

    from upbit_llm.demo.status import DemoStatus, format_status

    fresh = DemoStatus(at=0, rows=0, rate=None, markets=0, summaries=0, open_anomalies=0, anomalies=0, dead_letters=0)
    line = format_status(fresh, elapsed=5, up=8, total=8, restarts=0)
    assert line.startswith("[00:05] 8/8 up · ingest ? rows/s") and "last summary none yet" in line
    busy = DemoStatus(
        at=0, rows=51_234, rate=412.4, markets=160, last_summary=datetime.now(UTC) - timedelta(seconds=35),
        summaries=1, open_anomalies=2, anomalies=3, dead_letters=0,
    )  # fmt: skip
    line = format_status(busy, elapsed=135, up=7, total=8, restarts=1)
    assert "[02:15] 7/8 up (1 restarts)" in line and "ingest 412 rows/s" in line and "rows 51,234 (160 markets)" in line
    assert "(35s ago, 1 total)" in line and "open anomalies 2 of 3" in line
    down = DemoStatus(at=0, db_ok=False)
    assert "database unreachable" in format_status(down, elapsed=1, up=0, total=8, restarts=0)


def test_the_warm_up_history_ends_now_at_the_prices_the_live_simulator_starts_from() -> None:
    from fake_upbit.simulator import MarketSimulator
    from ingest.ticker import validate
    from upbit_llm.demo.history import mirrored

    pivot = 1_767_243_600_000
    forward = list(MarketSimulator(markets=5, seed=7, start_ms=pivot, rate=50, events=False).messages(60))
    history = [mirrored(m, pivot) for m in forward]
    assert all(pivot - 61_000 <= m["trade_timestamp"] <= pivot for m in history)
    for m in history:
        validate(m)  # still a valid Upbit ticker (dates and times follow the mirrored timestamp)
    live_first = {}
    for m in MarketSimulator(markets=5, seed=7, start_ms=pivot, rate=50, events=False).messages(60):
        live_first.setdefault(m["code"], m["trade_price"])
    history_last = {}
    for m in sorted(history, key=lambda m: m["trade_timestamp"]):
        history_last[m["code"]] = m["trade_price"]
    for code, price in live_first.items():  # the seam: within a few ticks of the same price, no jump
        assert abs(history_last[code] - price) / price < 0.005, (code, history_last[code], price)
