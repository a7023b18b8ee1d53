"""Run the benchmarks (ingest, MCP latency, tokens, anomaly evaluation) on this machine and print ONE table: each
measured figure next to its goal, with the ratio against a baseline measured in the same run; writes JSON too.

Each area's module `bench/<module>.py` exposes `run(settings, **kw) -> list[BenchFigure]`; an area whose module is
missing is reported as "not available", and an area that fails is reported with its error — the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import logging
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from upbit_core.settings import Settings

log = logging.getLogger(__name__)

# area → module under bench/ (the four areas, in this order); any other bench/<name>.py with a run() that
# an area team adds (e.g. celery_llm, dashboard) is found by discover_areas() and runs after them.
AREAS: dict[str, str] = {
    "ingest": "bench.ingest",
    "mcp": "bench.mcp_latency",
    "tokens": "bench.tokens",
    "anomaly": "bench.anomaly",
    "dashboard": "bench.dashboard",
}
ALIASES = {"celery_llm": "llm"}
NOT_AREAS = frozenset({"__init__", "__main__"})
# Areas that run only when named: `bench scale` generates up to 10M ticks per size (tens of minutes on 2 cores).
ONLY_WHEN_NAMED = frozenset({"scale"})


def discover_areas() -> dict[str, str]:
    """AREAS plus every other module in bench/ that defines `run` (read as text, without importing it); helpers
    such as data fillers and converters define no `run` and are not areas."""
    from upbit_core.settings import PROJECT_ROOT

    areas = dict(AREAS)
    known = set(areas.values())
    for path in sorted((PROJECT_ROOT / "bench").glob("*.py")):
        module = f"bench.{path.stem}"
        if path.stem in NOT_AREAS or path.stem.startswith("_") or module in known:
            continue
        if "\ndef run(" not in path.read_text(encoding="utf-8"):
            continue
        areas[ALIASES.get(path.stem, path.stem)] = module
    return areas


def add_arguments(parser: argparse.ArgumentParser) -> None:
    areas = discover_areas()
    parser.add_argument("which", nargs="?", default="all", choices=["all", *areas], help="all, " + ", ".join(areas))
    parser.add_argument("--json-out", default="artifacts/bench.json", help="where to write the JSON results")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for the docs)")
    parser.add_argument("--quick", action="store_true", help="smaller workloads (passed to areas that support it)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is not met")
    parser.add_argument(
        "--sizes",
        default=None,
        help="scale only: history sizes as ROWS:DAYS,... (default 1M:30,10M:365; --quick 200K:7,1M:30)",
    )


@dataclass
class AreaResult:
    area: str
    module: str
    status: str  # ok / not available / failed
    seconds: float = 0.0
    error: str = ""
    figures: list[Any] = field(default_factory=list)


def run_area(area: str, settings: Settings, *, module_name: str | None = None, **kw: object) -> AreaResult:
    """Import and run one area's benchmark; never raises."""
    module_name = module_name or AREAS[area]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name in (module_name, "bench"):
            return AreaResult(area, module_name, "not available", error=f"{module_name} is not in this build")
        return AreaResult(area, module_name, "failed", error=f"import failed: {exc}")
    except Exception as exc:  # noqa: BLE001 - a broken module must not stop the other areas
        return AreaResult(area, module_name, "failed", error=f"import failed: {type(exc).__name__}: {exc}")
    runner = getattr(module, "run", None)
    if not callable(runner):
        return AreaResult(area, module_name, "not available", error=f"{module_name} has no run(settings)")
    params = inspect.signature(runner).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in kw.items() if accepts_any or k in params}
    started = time.perf_counter()
    try:
        figures = list(runner(settings, **kwargs))
    except Exception as exc:  # noqa: BLE001 - reported in the table and the JSON, with the traceback in the log
        log.error("bench area=%s failed: %s\n%s", area, exc, traceback.format_exc())
        return AreaResult(area, module_name, "failed", time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
    return AreaResult(area, module_name, "ok", time.perf_counter() - started, figures=figures)


def _fmt_value(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:,.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def table_rows(results: list[AreaResult]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for res in results:
        if res.status != "ok":
            rows.append({"area": res.area, "figure": res.status, "value": "-", "goal": "-", "met": "-",
                         "baseline": "-", "ratio": "-", "note": res.error})  # fmt: skip
            continue
        for f in res.figures:
            met = "-" if f.met is None else ("yes" if f.met else "NO")
            baseline = f"{f.baseline_name} {_fmt_value(f.baseline_value, f.unit)}" if f.baseline_name else "-"
            ratio = "-" if f.ratio is None else f"{f.ratio:.3g}×"
            rows.append({"area": f.area or res.area, "figure": f.name, "value": _fmt_value(f.value, f.unit),
                         "goal": f.goal or "-", "met": met, "baseline": baseline, "ratio": ratio,
                         "note": f.note})  # fmt: skip
    return rows


def markdown_table(rows: list[dict[str, str]]) -> str:
    cols = ["area", "figure", "value", "goal", "met", "baseline", "ratio", "note"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(r[c].replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines)


def machine() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def run(args: argparse.Namespace, settings: Settings) -> int:
    from upbit_llm.output import print_table

    known = discover_areas()
    areas = [a for a in known if a not in ONLY_WHEN_NAMED] if args.which == "all" else [args.which]
    started = datetime.now(UTC)
    results: list[AreaResult] = []
    for area in areas:
        print(f"bench: running {area} ({known[area]}) ...", file=sys.stderr, flush=True)
        extra = {"sizes": args.sizes} if getattr(args, "sizes", None) else {}
        res = run_area(area, settings, module_name=known[area], quick=args.quick, **extra)
        print(f"bench: {area} {res.status} in {res.seconds:.1f}s {res.error}".rstrip(), file=sys.stderr, flush=True)
        results.append(res)

    rows = table_rows(results)
    host = machine()
    print(f"\nupbit-llm bench — {started:%Y-%m-%d %H:%M} UTC, {host['cpus']} CPUs, {host['platform']}")
    if args.markdown:
        print(markdown_table(rows))
    else:
        print_table(rows, ["area", "figure", "value", "goal", "met", "baseline", "ratio", "note"])

    payload = {
        "started_at": started.isoformat(),
        "machine": host,
        "areas": {
            r.area: {"module": r.module, "status": r.status, "seconds": round(r.seconds, 2), "error": r.error}
            for r in results
        },  # fmt: skip
        "figures": [f.as_dict() for r in results for f in r.figures],
    }
    out = Path(args.json_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
    print(f"\nJSON written to {out}")
    unmet = [f for r in results for f in r.figures if f.met is False]
    failed = [r for r in results if r.status == "failed"]
    if failed:
        print(f"{len(failed)} area(s) failed: see the note column and the log above", file=sys.stderr)
        return 1
    return 1 if args.strict and unmet else 0
