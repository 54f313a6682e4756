"""Alert settings: channels by name (Slack, email, SMS, webhook) and the routes that pick them.

Every channel's base URL or host is configurable (tests point them at local receivers; a
deployment can point them at a proxy). Secrets are `SecretStr`: never printed or logged.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

_STRICT = ConfigDict(extra="forbid", frozen=True)


class SlackWebhook(BaseModel):
    """Slack incoming webhook: POST {"text", "blocks"} to the hook URL (the URL is the secret)."""

    model_config = _STRICT
    type: Literal["slack_webhook"] = "slack_webhook"
    url: SecretStr


class SlackApi(BaseModel):
    """Slack Web API `chat.postMessage` with a bot token."""

    model_config = _STRICT
    type: Literal["slack_api"] = "slack_api"
    token: SecretStr
    channel: str
    base_url: str = "https://slack.com/api"


class Email(BaseModel):
    model_config = _STRICT
    type: Literal["email"] = "email"
    host: str
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: SecretStr | None = None
    sender: str
    recipients: list[str] = Field(min_length=1)
    timeout_s: float = 10.0


class TwilioSms(BaseModel):
    """Twilio Messages API: POST /2010-04-01/Accounts/{sid}/Messages.json, basic auth."""

    model_config = _STRICT
    type: Literal["twilio"] = "twilio"
    account_sid: str
    auth_token: SecretStr
    from_number: str
    to_numbers: list[str] = Field(min_length=1)
    base_url: str = "https://api.twilio.com"


class Webhook(BaseModel):
    """Any HTTP endpoint; the body is signed: `X-Fraudwatch-Signature: sha256=HMAC(secret,
    timestamp + "." + body)` with the timestamp in `X-Fraudwatch-Timestamp`."""

    model_config = _STRICT
    type: Literal["webhook"] = "webhook"
    url: str
    secret: SecretStr
    timeout_s: float = 10.0


ChannelConfig = Annotated[
    SlackWebhook | SlackApi | Email | TwilioSms | Webhook, Field(discriminator="type")
]


class Route(BaseModel):
    """Which decisions go to which channels: all conditions given must hold."""

    model_config = _STRICT
    name: str
    channels: list[str] = Field(min_length=1)
    outcomes: list[Literal["review", "step_up", "block"]] = ["block"]
    min_risk: float = Field(default=0.0, ge=0, le=1)
    min_amount: Decimal | None = None  # in the transaction's currency
    rules: list[str] = []  # any of these rules fired (empty: any decision)
