"""The one anomaly severity scale: its values in order and how they compare.

Settings (per-channel minimum severity), the detector, alert delivery, MCP and the dashboard all speak this scale,
so it lives in the foundation where every layer may import it.
"""

from __future__ import annotations

from typing import Literal, get_args

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)


def severity_rank(severity: str) -> int:
    """0 (info) .. 4 (critical); unknown strings rank lowest rather than raising."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0
