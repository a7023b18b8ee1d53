"""The platform shell: settings, the `upbit-llm` command line, logging and local services."""

__version__ = "0.1.0"
