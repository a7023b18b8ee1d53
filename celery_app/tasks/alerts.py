"""Celery task `celery_app.tasks.alerts.deliver_alerts(anomaly_id)`: deliver one event to every alert channel."""

from __future__ import annotations

import logging
from typing import Any

from alerts.delivery import deliver
from celery_app.application import Queue, app, current_settings

log = logging.getLogger(__name__)


@app.task(
    name="celery_app.tasks.alerts.deliver_alerts", queue=Queue.ALERTS.value, acks_late=True, reject_on_worker_lost=True
)
def deliver_alerts(anomaly_id: int, part: str = "alert") -> dict[str, Any]:
    """Deliver one part of an anomaly event to Slack and the generic webhook: `alert` (the facts, enqueued by the
    scan the moment the event opens) or `reading` (the interpretation follow-up, enqueued by the interpretation).

    Safe to run twice or after a worker died mid-send (acks_late redelivers it): `alerts.delivery.deliver` claims
    each (event, channel, status version) in the database before sending and never sends a claimed one twice.
    Retries with backoff happen inside `deliver`, so the task itself is not retried by Celery.
    """

    report = deliver(current_settings(), int(anomaly_id), part=str(part))
    log.info("deliver task done anomaly_id=%s part=%s outcomes=%s", anomaly_id, part, report.outcomes)
    return report.as_dict()
