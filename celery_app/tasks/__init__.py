"""Celery task modules, one per kind of work (listed explicitly in celery_app.application.TASK_MODULES)."""
