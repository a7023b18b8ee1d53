"""Slack incoming-webhook messages: a Block Kit layout readable at a glance (market, move, volume, severity)."""

from __future__ import annotations

import json
from typing import Any

from alerts.event import SEVERITY_EMOJI, AlertEvent


def escape(text: str) -> str:
    """Slack's control characters escaped (its documented rule: &, <, >), so a market name or model output
    cannot ping `<!channel>`, mention a user or forge a `<https://evil|link>`."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_message(event: AlertEvent) -> dict[str, Any]:
    """The Slack payload: `text` is the notification fallback, `blocks` the message people read."""
    emoji = SEVERITY_EMOJI.get(event.severity, "")
    as_of = event.as_of.strftime("%Y-%m-%d %H:%M:%S UTC")
    status = escape(event.status + (f" ({event.resolution})" if event.resolution else ""))
    market = escape(event.market + (f" {event.korean_name}" if event.korean_name else ""))
    title, move, volume = escape(event.title), escape(event.move_text()), escape(event.volume_text())
    fields = [
        {"type": "mrkdwn", "text": f"*Market*\n{market}"},
        {"type": "mrkdwn", "text": f"*Severity*\n{emoji} {escape(event.severity)}"},
        {"type": "mrkdwn", "text": f"*Move*\n{move}"},
        {"type": "mrkdwn", "text": f"*Volume vs normal*\n{volume}"},
        {"type": "mrkdwn", "text": f"*Status*\n{status}"},
        {"type": "mrkdwn", "text": f"*Started*\n{event.started_at.strftime('%H:%M:%S UTC')}"},
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{emoji} {title}"[:150], "emoji": True}},
        {"type": "section", "fields": fields},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*Interpretation*\n{escape(event.interpretation_text())}"[:2900]},
        },
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"as of {as_of} (event time) · anomaly #{event.id} · {escape(event.kind)}"}
            ],
        },
    ]
    text = f"{title}: {move}; volume {volume} (as of {as_of})"
    return {"text": text[:3000], "blocks": blocks}


def encode(event: AlertEvent) -> bytes:
    return json.dumps(build_message(event), ensure_ascii=False).encode("utf-8")


def headers(event: AlertEvent) -> dict[str, str]:
    # Slack ignores unknown headers; the key still helps a proxy or a log line correlate retries.
    return {"Content-Type": "application/json; charset=utf-8", "X-Idempotency-Key": event.idempotency_key("slack")}
