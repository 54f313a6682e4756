"""Alerts: routes from decisions to channels (Slack, email, SMS, webhook), an outbox stored with
the decisions, and a dispatcher that delivers it with retries and a delivery log."""
