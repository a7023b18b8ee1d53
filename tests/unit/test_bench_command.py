"""`upbit-llm bench`: one table with goals and same-run ratios, JSON out, missing or failing areas reported."""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

import pytest

from bench.common import BenchFigure
from upbit_core.settings import Settings
from upbit_llm.commands import bench as bench_cmd


def _module(name: str, run) -> types.ModuleType:  # type: ignore[no-untyped-def]
    mod = types.ModuleType(name)
    mod.run = run  # type: ignore[attr-defined]
    return mod


@pytest.fixture
def areas(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    def good(settings: Settings, quick: bool = False) -> list[BenchFigure]:
        return [
            BenchFigure("ingest", "consumer rows/s", 60_000.0, "rows/s", ">= 50000", True, "raw COPY", 120_000.0),
            BenchFigure("ingest", "p99 end-to-end", 2.5, "s", "<= 2", False, note="quick" if quick else ""),
        ]

    def broken(settings: Settings) -> list[BenchFigure]:
        raise RuntimeError("broker went away")

    monkeypatch.setitem(sys.modules, "bench_fake_good", _module("bench_fake_good", good))
    monkeypatch.setitem(sys.modules, "bench_fake_broken", _module("bench_fake_broken", broken))
    table = {"ingest": "bench_fake_good", "mcp": "bench_fake_broken", "tokens": "bench.does_not_exist_here"}
    monkeypatch.setattr(bench_cmd, "AREAS", table)
    monkeypatch.setattr(bench_cmd, "discover_areas", lambda: dict(table))
    return table


def test_bench_prints_one_table_with_goals_ratios_and_unavailable_areas(
    areas: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], base_settings: Settings
) -> None:
    out = tmp_path / "bench.json"
    args = argparse.Namespace(which="all", json_out=str(out), markdown=False, quick=True, strict=False)
    code = bench_cmd.run(args, base_settings)
    text = capsys.readouterr().out
    assert code == 1  # one area failed
    assert "consumer rows/s" in text and ">= 50000" in text and "0.5×" in text and "raw COPY" in text
    assert "not available" in text and "bench.does_not_exist_here is not in this build" in text
    assert "failed" in text and "broker went away" in text
    data = json.loads(out.read_text())
    assert data["areas"]["tokens"]["status"] == "not available"
    assert data["areas"]["mcp"]["status"] == "failed"
    assert data["areas"]["ingest"]["status"] == "ok"
    figures = {f["name"]: f for f in data["figures"]}
    assert figures["consumer rows/s"]["ratio"] == 0.5
    assert figures["p99 end-to-end"]["note"] == "quick"  # --quick reached the area that accepts it
    assert data["machine"]["cpus"]


def test_bench_of_one_area_runs_only_that_area_and_strict_fails_on_unmet_goals(
    areas: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], base_settings: Settings
) -> None:
    out = str(tmp_path / "b.json")
    args = argparse.Namespace(which="ingest", json_out=out, markdown=True, quick=False, strict=True)
    assert bench_cmd.run(args, base_settings) == 1
    text = capsys.readouterr().out
    assert "| ingest | consumer rows/s | 60,000 rows/s | >= 50000 | yes |" in text
    assert "| ingest | p99 end-to-end | 2.5 s | <= 2 | NO |" in text
    assert "broker" not in text


def test_a_missing_area_module_is_not_available_rather_than_a_crash(base_settings: Settings) -> None:
    bench_cmd.AREAS["nothing"] = "bench.no_such_area"
    try:
        result = bench_cmd.run_area("nothing", base_settings)
    finally:
        del bench_cmd.AREAS["nothing"]
    assert result.status == "not available" and result.figures == []


def test_bench_modules_added_by_area_teams_are_discovered_after_the_four_areas() -> None:
    areas = bench_cmd.discover_areas()
    assert list(areas)[:4] == ["ingest", "mcp", "tokens", "anomaly"]
    assert "common" not in areas and all(m.startswith("bench.") for m in areas.values())


def test_bench_helpers_without_a_run_function_are_not_offered_as_areas() -> None:
    from upbit_llm.commands.bench import discover_areas

    areas = discover_areas()
    assert "pump_tapes" not in areas and "realistic" not in areas  # a converter and a data filler
    assert {"truth", "indicators", "backfill", "ask", "scale"} <= set(areas)
