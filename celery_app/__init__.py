"""The platform's Celery application: `celery -A celery_app worker|beat|flower` finds `app` here."""

from celery_app.application import Queue, app, create_app

__all__ = ["Queue", "app", "create_app"]
