"""`upbit-llm verify-answer`: a table for people, JSON for machines, exit 1 when a claim is not verified."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from upbit_llm.cli import main

CONTEXT = Path(__file__).resolve().parents[2] / "bench" / "truth" / "coins.txt"


def _answer(tmp_path: Path, text: str) -> str:
    path = tmp_path / "answer.txt"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_json_lists_claims_with_matched_facts_and_exits_0_when_grounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "verify-answer",
            "--context",
            str(CONTEXT),
            "--answer",
            _answer(tmp_path, "XRP는 3,161원, 전일 대비 3.91% 상승."),
            "--json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["grounded"] is True and data["issues"] == []
    assert [c["text"] for c in data["claims"]] == ["3,161", "3.91%"]
    assert all(c["matched_fact"] and c["entity"] == "XRP" for c in data["claims"])
    assert {"text", "entity", "kind", "unit", "value", "matched_fact"} <= set(data["claims"][0])


def test_a_flipped_direction_and_an_echoed_number_exit_1_with_the_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = _answer(tmp_path, "비트코인은 전일 대비 4.47% 하락했고 곧 1억을 돌파합니다.")
    code = main(["verify-answer", "--context", str(CONTEXT), "--answer", answer, "--question", "비트 1억 가?"])
    out = capsys.readouterr().out
    assert code == 1 and "direction flipped" in out and "echoed from the question" in out
    assert "2 claim(s) not verified" in out


def test_an_unreadable_file_is_a_clear_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["verify-answer", "--context", str(tmp_path / "missing.txt"), "--answer", str(CONTEXT)])
    assert code == 2 and "cannot read the context file" in capsys.readouterr().err
