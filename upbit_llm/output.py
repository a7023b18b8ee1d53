"""Printing for people and machines: tables, JSON and status lines used by every command."""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


def to_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=_default, indent=2)


def print_json(data: Any, stream: TextIO | None = None) -> None:
    print(to_json(data), file=stream or sys.stdout)


def print_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, stream: TextIO | None = None
) -> None:
    """A plain aligned table (wide characters such as Hangul count as two columns)."""
    out = stream or sys.stdout
    if not rows:
        print("(none)", file=out)
        return
    cols = list(columns or rows[0].keys())
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(_width(c), *(_width(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(_pad(c, w) for c, w in zip(cols, widths, strict=True)), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        print("  ".join(_pad(v, w) for v, w in zip(row, widths, strict=True)), file=out)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
