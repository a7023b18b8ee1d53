"""Celery task `celery_app.tasks.anomalies.scan_anomalies`: one anomaly scan, then interpretation of new events."""

from __future__ import annotations

import logging
from typing import Any

from anomaly.scan import run_scan
from celery_app.application import Queue, app, current_settings

log = logging.getLogger(__name__)

INTERPRET_TASK = "celery_app.tasks.interpret.interpret_anomaly"
DELIVER_TASK = "celery_app.tasks.alerts.deliver_alerts"


@app.task(name="celery_app.tasks.anomalies.scan_anomalies", queue=Queue.SCANS.value, acks_late=True)
def scan_anomalies() -> dict[str, Any]:
    """Run `anomaly.scan.run_scan` and enqueue an interpretation for every new or escalated event.

    Idempotent: the scan's persisted watermark evaluates each bucket once, so a redelivered task finds nothing new,
    and a scan already running elsewhere makes this one a no-op (advisory lock). Interpretation is enqueued by name
    (queue `llm`) after the scan committed. Facts first: the alert delivery of every new, escalated or resolved
    event is enqueued right away (queue `alerts`), not after the model; the interpretation task enqueues the
    follow-up with the reading when it is done.
    """

    result = run_scan(current_settings())
    # The facts first (the alert queue does not wait for the model), then the interpretation.
    for anomaly_id in dict.fromkeys([*result.to_interpret, *result.resolved]):
        app.send_task(DELIVER_TASK, args=[anomaly_id, "alert"], queue=Queue.ALERTS.value)
    for anomaly_id in result.to_interpret:
        app.send_task(INTERPRET_TASK, args=[anomaly_id], queue=Queue.LLM.value)
    log.info(
        "scan task done buckets=%s new=%s escalated=%s resolved=%s enqueued=%s",
        result.buckets_evaluated,
        len(result.opened),
        len(result.escalated),
        len(result.resolved),
        len(result.to_interpret),
    )
    return result.as_dict()
