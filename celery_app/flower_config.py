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


def protect_metrics() -> None:
    """Put Flower's Prometheus `/metrics` behind the same basic auth as every other page: Flower 2 serves it
    unauthenticated (task names, worker names and counts leak to anyone who reaches the port). `/healthcheck`
    stays open; it says only "OK". Called from flowerconfig.py, inside the Flower process, before it serves."""
    # Here, not at module top: only the Flower process patches its views; whatever imports this module just for
    # flower_options (the unit tests, flowerconfig.py before Flower starts) does not load Flower's web app.
    import tornado.web
    from flower.views import monitor

    if not getattr(monitor.Metrics.get, "_upbit_protected", False):
        protected = tornado.web.authenticated(monitor.Metrics.get)
        protected._upbit_protected = True  # type: ignore[attr-defined]
        monitor.Metrics.get = protected
