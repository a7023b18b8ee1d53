"""The top of the stack: the `upbit-llm` command line, the demo supervisor and local development services."""

from upbit_core import __version__

__all__ = ["__version__"]
