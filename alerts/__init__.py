"""Alert delivery: Slack incoming webhooks and signed generic webhooks, each event once per channel."""
