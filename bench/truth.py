"""`upbit-llm bench truth`: the claim-level verifier over the labelled truth corpus (bench/_truth_corpus.py) — share
of wrong answers flagged, share of right answers passed and verifier cost per answer — next to the old
bag-of-numbers check (llm/grounding.py) measured on the same answers in the same run.

The contexts are real analytics-layer renderings saved in bench/truth/*.txt; no database is needed.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from bench.common import BenchFigure, percentile
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

AREA = "truth"
CONTEXT_DIR = Path(__file__).resolve().parent / "truth"


def load_contexts() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(CONTEXT_DIR.glob("*.txt"))}


def evaluate(repeat: int = 5) -> dict[str, Any]:
    """Run both checkers over the corpus; returns rates, timings and the misjudged cases."""
    from bench._truth_corpus import CASES
    from llm import grounding
    from llm.facts import read_context
    from llm.verify import verify

    contexts = load_contexts()
    for text in contexts.values():
        read_context(text)  # parsed once per context, as in production (cached)
    new_ms: list[float] = []
    old_ms: list[float] = []
    misjudged: list[dict[str, Any]] = []
    new_ok: list[bool] = []
    old_ok: list[bool] = []
    for case in CASES:
        ctx = contexts[case.context]
        report = None
        for _ in range(repeat):
            started = time.perf_counter()
            report = verify(case.answer, ctx, question=case.question)
            new_ms.append((time.perf_counter() - started) * 1000)
        assert report is not None
        started = time.perf_counter()
        old = grounding.check(case.answer, ctx, extra_allowed=[case.question or ""])
        old_ms.append((time.perf_counter() - started) * 1000)
        new_ok.append(report.ok)
        old_ok.append(old.ok)
        if report.ok != case.right:
            misjudged.append({"answer": case.answer, "right": case.right, "why": case.why, "issues": report.issues})
    mutants = _mutants(contexts)
    wrong = [i for i, c in enumerate(CASES) if not c.right]
    right = [i for i, c in enumerate(CASES) if c.right]
    return {
        "cases": len(CASES),
        "right": len(right),
        "wrong": len(wrong),
        "ko": sum(1 for c in CASES if c.lang == "ko"),
        "en": sum(1 for c in CASES if c.lang == "en"),
        "flagged_pct": 100.0 * sum(not new_ok[i] for i in wrong) / max(1, len(wrong)),
        "passed_pct": 100.0 * sum(new_ok[i] for i in right) / max(1, len(right)),
        "old_flagged_pct": 100.0 * sum(not old_ok[i] for i in wrong) / max(1, len(wrong)),
        "old_passed_pct": 100.0 * sum(old_ok[i] for i in right) / max(1, len(right)),
        "ms_mean": sum(new_ms) / len(new_ms),
        "ms_p95": percentile(new_ms, 95),
        "old_ms_mean": sum(old_ms) / len(old_ms),
        "misjudged": misjudged,
        "mutants": len(mutants),
        "mutants_flagged_pct": 100.0 * sum(not ok for _, ok in mutants) / max(1, len(mutants)),
        "mutants_passed": [m for m, ok in mutants if ok],
    }


def _mutants(contexts: dict[str, str]) -> list[tuple[str, bool]]:
    """Every mechanical mutant of every right corpus answer that states a figure, and whether it (wrongly) passed."""
    from bench._truth_corpus import CASES
    from bench._truth_mutants import KINDS, mutate
    from llm.verify import verify

    seen: set[str] = set()
    out: list[tuple[str, bool]] = []
    for case in CASES:
        if not case.right:
            continue
        ctx = contexts[case.context]
        if not any(c.claim.unit not in ("time", "date") for c in verify(case.answer, ctx).checked):
            continue
        for how in KINDS:
            for pick in range(4):
                mutant = mutate(case.answer, how, pick, clock=("46", "22"))
                if mutant is None or mutant == case.answer or mutant in seen:
                    continue
                seen.add(mutant)
                out.append((mutant, verify(mutant, ctx, question=case.question).ok))
    return out


def run(settings: Settings, *, quick: bool = False, **_: Any) -> list[BenchFigure]:
    del settings
    r = evaluate(repeat=2 if quick else 5)
    data = (
        f"{r['cases']} answers ({r['ko']} ko / {r['en']} en; {r['right']} right, {r['wrong']} wrong)"
        " over 4 saved analytics contexts"
    )
    for text in r["mutants_passed"]:
        log.warning("truth mutant passed verification: %s", text)
    for m in r["misjudged"]:
        log.warning("truth corpus misjudged right=%s answer=%s issues=%s", m["right"], m["answer"], m["issues"])
    return [
        BenchFigure(AREA, "wrong answers flagged", r["flagged_pct"], "%", goal=">= 95", met=r["flagged_pct"] >= 95,
                    baseline_name="bag-of-numbers check", baseline_value=r["old_flagged_pct"], note=data),
        BenchFigure(AREA, "right answers passed", r["passed_pct"], "%", goal=">= 90", met=r["passed_pct"] >= 90,
                    baseline_name="bag-of-numbers check", baseline_value=r["old_passed_pct"]),
        BenchFigure(AREA, "mutants of right answers flagged", r["mutants_flagged_pct"], "%", goal=">= 95",
                    met=r["mutants_flagged_pct"] >= 95,
                    note=f"{r['mutants']} mechanical mutants (x10/x100, swapped digits, flipped direction,"
                         " swapped coin, clock-time number), not hand-labelled"),
        BenchFigure(AREA, "verifier cost per answer (mean)", r["ms_mean"], "ms", goal="<= 20", met=r["ms_mean"] <= 20,
                    baseline_name="bag-of-numbers check", baseline_value=r["old_ms_mean"],
                    note=f"same answers, same run; load average {os.getloadavg()[0]:.1f}"),
        BenchFigure(AREA, "verifier cost per answer (p95)", r["ms_p95"], "ms", goal="<= 20", met=r["ms_p95"] <= 20),
    ]  # fmt: skip
