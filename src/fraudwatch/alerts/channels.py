"""Alert channels: each sends one alert payload, or raises `DeliveryError`.

Requests follow each provider's documented API exactly (Slack incoming webhooks and
`chat.postMessage`, Twilio's Messages resource, SMTP with optional STARTTLS) and carry the
alert key as an idempotency hint, so a receiver can drop the duplicate a retry may cause.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from fraudwatch.alerts.config import (
    ChannelConfig,
    Email,
    SlackApi,
    SlackWebhook,
    TwilioSms,
    Webhook,
)
from fraudwatch.alerts.model import summary
from fraudwatch.errors import FraudwatchError


class DeliveryError(FraudwatchError):
    """The channel did not accept the alert; `retry` says whether trying later can help."""

    code = "delivery_failed"

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


class Channel(Protocol):
    def send(self, key: str, data: dict[str, Any]) -> str:
        """Deliver; returns a short description of the receiver's answer."""


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code >= 500 or response.status_code == 429:
        raise DeliveryError(f"{what}: HTTP {response.status_code}")
    if response.status_code >= 400:
        raise DeliveryError(
            f"{what}: HTTP {response.status_code} {response.text[:200]}", retry=False
        )


def _post(client: httpx.Client, url: str, what: str, **kwargs: Any) -> httpx.Response:
    try:
        response = client.post(url, **kwargs)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{what}: {type(exc).__name__}") from None
    _check(response, what)
    return response


def _blocks(data: dict[str, Any]) -> list[dict[str, Any]]:
    reasons = "\n".join(f"• {r}" for r in data.get("reasons") or []) or "—"
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{summary(data)}*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": reasons}},
    ]


class SlackWebhookChannel:
    def __init__(self, config: SlackWebhook, client: httpx.Client) -> None:
        self.url = config.url.get_secret_value()
        self.client = client

    def send(self, key: str, data: dict[str, Any]) -> str:
        body = {"text": summary(data), "blocks": _blocks(data)}
        response = _post(self.client, self.url, "slack webhook", json=body)
        return f"HTTP {response.status_code}"


class SlackApiChannel:
    def __init__(self, config: SlackApi, client: httpx.Client) -> None:
        self.config = config
        self.client = client

    def send(self, key: str, data: dict[str, Any]) -> str:
        headers = {"Authorization": f"Bearer {self.config.token.get_secret_value()}"}
        body = {"channel": self.config.channel, "text": summary(data), "blocks": _blocks(data)}
        url = f"{self.config.base_url.rstrip('/')}/chat.postMessage"
        response = _post(self.client, url, "slack chat.postMessage", json=body, headers=headers)
        answer = response.json()
        if not answer.get("ok"):  # Slack answers 200 with ok=false on errors
            error = str(answer.get("error", "unknown"))
            raise DeliveryError(f"slack chat.postMessage: {error}", retry=error == "ratelimited")
        return f"ok ts={answer.get('ts')}"


class TwilioChannel:
    def __init__(self, config: TwilioSms, client: httpx.Client) -> None:
        self.config = config
        self.client = client

    def send(self, key: str, data: dict[str, Any]) -> str:
        c = self.config
        url = f"{c.base_url.rstrip('/')}/2010-04-01/Accounts/{c.account_sid}/Messages.json"
        auth = (c.account_sid, c.auth_token.get_secret_value())
        sids = []
        for number in c.to_numbers:
            form = {"To": number, "From": c.from_number, "Body": summary(data)[:1600]}
            response = _post(self.client, url, "twilio", data=form, auth=auth)
            sids.append(str(response.json().get("sid")))
        return "sid " + ",".join(sids)


class WebhookChannel:
    def __init__(self, config: Webhook, client: httpx.Client) -> None:
        self.config = config
        self.client = client

    def send(self, key: str, data: dict[str, Any]) -> str:
        body = json.dumps({"alert_key": key, **data}, separators=(",", ":")).encode()
        stamp = str(int(time.time()))
        secret = self.config.secret.get_secret_value().encode()
        signature = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Fraudwatch-Timestamp": stamp,
            "X-Fraudwatch-Signature": f"sha256={signature}",
            "Idempotency-Key": key,
        }
        response = _post(
            self.client, self.config.url, "webhook", content=body, headers=headers,
            timeout=self.config.timeout_s,
        )  # fmt: skip
        return f"HTTP {response.status_code}"


class EmailChannel:
    def __init__(self, config: Email) -> None:
        self.config = config

    def send(self, key: str, data: dict[str, Any]) -> str:
        c = self.config
        message = EmailMessage()
        message["Subject"] = f"[fraudwatch] {summary(data)}"
        message["From"] = c.sender
        message["To"] = ", ".join(c.recipients)
        message["X-Fraudwatch-Alert"] = key
        lines = [summary(data), "", *(f"- {r}" for r in data.get("reasons") or [])]
        message.set_content("\n".join(lines))
        try:
            with smtplib.SMTP(c.host, c.port, timeout=c.timeout_s) as smtp:
                if c.starttls:
                    smtp.starttls()
                if c.username and c.password:
                    smtp.login(c.username, c.password.get_secret_value())
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(
                f"email: every recipient refused ({len(exc.recipients)})", retry=False
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"email: {type(exc).__name__}: {exc}") from None
        return f"sent to {len(c.recipients) - len(refused)} recipient(s)"


def send_text(config: ChannelConfig, destination: str, text: str, *, timeout_s: float = 10) -> str:
    """A short message to one person (a step-up code): SMS through Twilio or an email."""
    if isinstance(config, TwilioSms):
        url = (
            f"{config.base_url.rstrip('/')}/2010-04-01/Accounts/{config.account_sid}/Messages.json"
        )
        form = {"To": destination, "From": config.from_number, "Body": text}
        with httpx.Client(timeout=timeout_s) as client:
            auth = (config.account_sid, config.auth_token.get_secret_value())
            response = _post(client, url, "twilio", data=form, auth=auth)
        return str(response.json().get("sid"))
    if isinstance(config, Email):
        message = EmailMessage()
        message["Subject"] = "Your verification code"
        message["From"] = config.sender
        message["To"] = destination
        message.set_content(text)
        try:
            with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as smtp:
                if config.starttls:
                    smtp.starttls()
                if config.username and config.password:
                    smtp.login(config.username, config.password.get_secret_value())
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"email: {type(exc).__name__}") from None
        return "sent"
    raise DeliveryError(f"a {config.type} channel cannot send a code to a person", retry=False)


def make_channel(config: ChannelConfig, client: httpx.Client) -> Channel:
    if isinstance(config, SlackWebhook):
        return SlackWebhookChannel(config, client)
    if isinstance(config, SlackApi):
        return SlackApiChannel(config, client)
    if isinstance(config, TwilioSms):
        return TwilioChannel(config, client)
    if isinstance(config, Webhook):
        return WebhookChannel(config, client)
    return EmailChannel(config)
