"""`upbit-llm summary --json`, `ask` and `costs --json` work offline (no key) against a filled database."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.analyst_data import filled_database
from tests.support.celery_procs import ROOT, process_env
from upbit_core.settings import Settings


@pytest.fixture(scope="module")
def market_db() -> Iterator[Settings]:
    yield from filled_database()


def cli(settings: Settings, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = process_env(settings, redis_url="redis://127.0.0.1:6379/11")
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "upbit_llm", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_summary_ask_and_costs_work_offline(market_db: Settings, tmp_path: Path) -> None:
    out = cli(market_db, tmp_path, "summary", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["status"] == "created" and summary["offline"] and summary["model"] == "offline-analyst"
    assert summary["text"].startswith("[오프라인 분석") and summary["grounded"] and summary["as_of"]
    assert summary["window_key"].startswith("300s@") and summary["context_tokens"] <= 1500

    again = json.loads(cli(market_db, tmp_path, "summary", "--json").stdout)
    assert again["status"] == "exists" and again["id"] == summary["id"]

    asked = cli(market_db, tmp_path, "ask", "W코인 지금 어때?")
    assert asked.returncode == 0, asked.stderr
    assert "웜홀(KRW-W)" in asked.stdout and "as of " in asked.stdout and "offline-analyst" in asked.stdout
    assert "$0.000000" in asked.stdout

    which = cli(market_db, tmp_path, "ask", "bit", "--json")
    assert which.returncode == 3 and json.loads(which.stdout)["status"] == "ambiguous"

    costs = cli(market_db, tmp_path, "costs", "--json")
    assert costs.returncode == 0, costs.stderr
    report = json.loads(costs.stdout)
    kinds = {r["task_kind"]: r for r in report["rows"]}
    assert kinds["market_summary"]["calls"] == 1 and kinds["coin_qa"]["calls"] == 1
    assert kinds["coin_qa"]["offline_calls"] == 1 and report["totals"]["cost_usd"] == 0

    table = cli(market_db, tmp_path, "costs")
    assert "market_summary" in table.stdout and "total 2 calls" in table.stdout


def test_summary_on_an_empty_database_says_what_to_do(scratch_db: Settings, tmp_path: Path) -> None:
    out = cli(scratch_db, tmp_path, "summary")
    assert out.returncode == 1 and "upbit-llm ingest" in out.stderr
    asked = cli(scratch_db, tmp_path, "ask", "비트 어때?")
    assert asked.returncode == 3 and "catalog is empty" in asked.stdout
