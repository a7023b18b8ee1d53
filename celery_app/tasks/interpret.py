"""Celery task `celery_app.tasks.interpret.interpret_anomaly(anomaly_id)`: read an event, then hand it to alerts."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from celery_app.application import Queue, app, current_settings
from celery_app.tasks.common import MAX_RETRIES, backoff, is_transient
from llm.interpret import interpret_anomaly as interpret

log = logging.getLogger(__name__)

DELIVER_TASK = "celery_app.tasks.alerts.deliver_alerts"


def _enqueue_alerts(anomaly_id: int) -> None:
    # The facts went out when the scan opened the event; this is the interpretation follow-up (or, if the facts'
    # task has not run yet, the alert with the reading in it: alerts.delivery sorts out the order).
    app.send_task(DELIVER_TASK, args=[anomaly_id, "reading"], queue=Queue.ALERTS.value)


@app.task(name="celery_app.tasks.interpret.interpret_anomaly", bind=True, max_retries=MAX_RETRIES)
def interpret_anomaly(self: Task, anomaly_id: int) -> dict[str, Any]:
    """Interpret the event (stored in anomalies.interpretation), then enqueue deliver_alerts(anomaly_id, "reading").

    The facts alert does not wait for this task (the scan enqueues it directly); the follow-up is enqueued also
    when the interpretation failed for good, so an alert whose facts task was lost still goes out.
    Transient failures retry first (the alert waits for the reading). Idempotent per event status and severity.
    """

    anomaly_id = int(anomaly_id)
    try:
        reading = interpret(current_settings(), anomaly_id)
    except LookupError as exc:
        log.warning("interpretation skipped anomaly=%s reason=%s", anomaly_id, exc)
        return {"status": "not_found", "anomaly_id": anomaly_id}
    except Exception as exc:
        if is_transient(exc) and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
        log.error("interpretation failed anomaly=%s error=%s; alerting without it", anomaly_id, exc)
        _enqueue_alerts(anomaly_id)
        return {"status": "failed", "anomaly_id": anomaly_id, "error": str(exc)[:500]}
    _enqueue_alerts(anomaly_id)
    return {"status": "interpreted", "anomaly_id": anomaly_id, **reading}
