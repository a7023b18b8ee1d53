"""The foundation: settings, logging setup and the version. Imports nothing of the project; everything imports it."""

__version__ = "0.1.0"
