"""The dashboard's database access: `db.readonly`'s read-only pool under the dashboard's application name.

Role policy (read-only role, no writer fallback outside development), session settings and pooling are
`db.readonly`'s, shared with the MCP server, the CLI listings and the demo status line.
"""

from __future__ import annotations

from db.readonly import ReadOnlyPool as _SharedReadOnlyPool
from db.readonly import RoleChoice, writer_fallback_allowed
from upbit_core.settings import Settings

__all__ = ["APPLICATION_NAME", "ReadPool", "RoleChoice", "writer_fallback_allowed"]

APPLICATION_NAME = "upbit-llm-web"


class ReadPool(_SharedReadOnlyPool):
    """Up to `size` read-only connections for the web workers (see `db.readonly.ReadOnlyPool`)."""

    def __init__(self, settings: Settings, *, size: int = 4) -> None:
        super().__init__(settings, size=size, application_name=APPLICATION_NAME)
