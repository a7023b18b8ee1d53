"""The liveness file of the long-running ingest processes: touched on every status tick, read by the compose
healthcheck (`upbit-llm` has no HTTP port in these processes), so a wedged loop turns the container unhealthy."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)


def touch(path: str) -> None:
    """Mark the process alive now (no-op when HEARTBEAT_FILE is unset); never raises."""
    if not path:
        return
    try:
        Path(path).touch()
    except OSError as exc:
        log.warning("heartbeat file not updated path=%s error=%s", path, exc)


def age_seconds(path: str) -> float:
    """Seconds since the last touch (infinity when the file is missing)."""
    try:
        return time.time() - os.path.getmtime(path)
    except OSError:
        return float("inf")
