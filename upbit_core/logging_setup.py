"""Process-wide logging: one line per record, key=value context, to stderr."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at emit time, so a replaced or closed stream (a CLI run inside a test
    harness, a redirected child) never turns into "I/O operation on closed file" errors."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure_logging(level: str = "INFO") -> None:
    """Configure the root logger once; safe to call again (replaces our handler)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_upbit_llm", False):
            root.removeHandler(handler)
    handler = _CurrentStderrHandler()
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%dT%H:%M:%S"))
    handler._upbit_llm = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Chatty libraries: their INFO lines drown the status lines people read.
    for noisy in ("kafka", "httpx", "httpcore", "urllib3", "websocket"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
