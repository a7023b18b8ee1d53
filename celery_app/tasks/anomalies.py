"""Celery task `celery_app.tasks.anomalies.scan_anomalies`: one anomaly scan, then interpretation of new events."""

from __future__ import annotations

import logging
from typing import Any

from celery_app import app

log = logging.getLogger(__name__)

INTERPRET_TASK = "celery_app.tasks.interpret.interpret_anomaly"


def _settings() -> Any:
    from upbit_llm.settings import get_settings

    return get_settings()


@app.task(name="celery_app.tasks.anomalies.scan_anomalies", queue="scans", acks_late=True)
def scan_anomalies() -> dict[str, Any]:
    """Run `anomaly.scan.run_scan` and enqueue an interpretation for every new or escalated event.

    Idempotent: the scan's persisted watermark evaluates each bucket once, so a redelivered task finds nothing new.
    Interpretation is enqueued by name (queue `llm`) after the scan committed; the interpretation task enqueues the
    alert delivery when it is done.
    """
    from anomaly.scan import run_scan

    result = run_scan(_settings())
    for anomaly_id in result.to_interpret:
        app.send_task(INTERPRET_TASK, args=[anomaly_id], queue="llm")
    log.info(
        "scan task done buckets=%s new=%s escalated=%s resolved=%s enqueued=%s",
        result.buckets_evaluated,
        len(result.opened),
        len(result.escalated),
        len(result.resolved),
        len(result.to_interpret),
    )
    return result.as_dict()
