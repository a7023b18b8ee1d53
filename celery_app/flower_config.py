"""Flower's options from Settings: basic auth from FLOWER_USER / FLOWER_PASSWORD; no password, no Flower."""

from __future__ import annotations

from typing import Any

from upbit_core.settings import Settings


class FlowerPasswordMissing(SystemExit):
    """Flower would expose task arguments and worker control to anyone; refuse to start without auth."""


def flower_options(settings: Settings) -> dict[str, Any]:
    password = settings.flower_password.get_secret_value()
    if not password:
        raise FlowerPasswordMissing(
            "FLOWER_PASSWORD is not set: refusing to start Flower without basic auth. "
            "Set FLOWER_PASSWORD (and FLOWER_USER, default admin) in .env or the environment."
        )
    if ":" in settings.flower_user or "," in settings.flower_user or "," in password:
        raise FlowerPasswordMissing("FLOWER_USER must not contain ':' or ','; FLOWER_PASSWORD must not contain ','")
    return {
        "basic_auth": [f"{settings.flower_user}:{password}"],
        "address": settings.flower_host,
        "port": settings.flower_port,
    }
