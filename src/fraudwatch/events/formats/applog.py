"""`applog`: payments recovered from application log lines by a regex with named groups.

Each log type is a regex whose group names are flat canonical fields (`transaction_id`,
`event_time`, `amount`, `currency`, `card_number`, `merchant_id`, `ip_address`, `customer_id`,
... see `flatfields.FLAT_FIELDS`); other group names become attributes, and a group named `json`
holds a JSON object whose keys are read the same way (after the log type's renames). Option
`log_type` picks a built-in type (`LOG_TYPES`, default `payment-service`); option `pattern`
defines one (with `time_format`, `event_start` and `log_type` as its name).

A line the pattern does not match is an `unparseable` dead letter naming the log type. Multi-line
events (a Java stack trace under an ERROR line) are folded, never dropped: a continuation line
(one that does not start like an event per `event_start`, or, without it, one that starts with
whitespace, `Caused by:`, `Suppressed:` or `...`) joins the dead letter of the unmatched line
above it; continuation lines after an accepted transaction form a dead letter of their own.
Blank lines are passed over.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgspec

from fraudwatch.errors import ConfigError, RecordError
from fraudwatch.events.deadletter import RAW_LIMIT
from fraudwatch.events.formats.base import IngestContext, Parsed, register_format
from fraudwatch.events.formats.flatfields import (
    FLAT_FIELDS,
    FlatTransactionBuilder,
    attribute_value,
    zone_option,
)
from fraudwatch.events.formats.mongojson import decoder
from fraudwatch.events.formats.records import rejected
from fraudwatch.events.formats.textio import encoding_error, numbered_lines, printable, undecodable
from fraudwatch.events.model import AttributeValue

NAME = "applog"
MAX_GROUP_LINES = 1000
REQUIRED_GROUPS = ("transaction_id", "event_time", "currency")
_CONTINUATION = re.compile(r"\s|Caused by:|Suppressed:|\.\.\.")


@dataclass(frozen=True, slots=True)
class LogType:
    """How to read one kind of log: the line regex and how its parts become canonical fields."""

    name: str
    pattern: re.Pattern[str]
    time_format: str = "iso"
    event_start: re.Pattern[str] | None = None
    json_names: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, str] = field(default_factory=dict)

    def is_continuation(self, line: str) -> bool:
        if self.event_start is not None:
            return self.event_start.match(line) is None
        return _CONTINUATION.match(line) is not None


PAYMENT_SERVICE = LogType(
    name="payment-service",
    # 2026-11-23 10:00:01,123 INFO  [pool-1-thread-3] c.a.payments.PaymentService - payment
    #   authorised txn=T-1001 amount=12.50 currency=EUR card=4111111111111111 merchant=M-42
    #   customer=C-9 ip=203.0.113.7                                              (one line)
    pattern=re.compile(
        r"(?P<event_time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[,.]\d{3})"
        r"\s+[A-Z]+\s+\[[^\]]*\]\s+\S+\s+-\s+"
        r"payment (?P<status>authori[sz]ed|declined) txn=(?P<transaction_id>\S+)"
        r" amount=(?P<amount>\S+) currency=(?P<currency>\S+) card=(?P<card_number>\S+)"
        r" merchant=(?P<merchant_id>\S+)(?: customer=(?P<customer_id>\S+))?"
        r"(?: ip=(?P<ip_address>\S+))?(?: reason=(?P<decline_reason>\S+))?\s*"
    ),
    event_start=re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"),
)

CHECKOUT_ACCESS = LogType(
    name="checkout-access",
    # 203.0.113.7 - - [23/Nov/2026:11:00:01 +0100] "POST /api/v1/checkout HTTP/1.1" 201 512
    #   "Mozilla/5.0 (iPhone)" rt=0.087 body={"orderId":"O-1","amount":"12.50",...}
    pattern=re.compile(
        r"(?P<ip_address>[0-9A-Fa-f:.]+) \S+ \S+ \[(?P<event_time>[^\]]+)\]"
        r' "(?:POST|PUT) \S*checkout\S* HTTP/[\d.]+" (?P<http_status>\d{3}) \d+'
        r' "(?P<device_user_agent>[^"]*)" rt=(?P<response_time>[\d.]+) body=(?P<json>\{.*\})\s*'
    ),
    time_format="%d/%b/%Y:%H:%M:%S %z",
    json_names={
        "orderId": "transaction_id",
        "cardNumber": "card_number",
        "merchantId": "merchant_id",
        "customerId": "customer_id",
        "deviceId": "device_id",
        "email": "customer_email",
        "shippingCountry": "shipping_country",
        "billingCountry": "billing_country",
    },
    defaults={"channel": "ecommerce", "entry_mode": "ecommerce"},
)

POS_SYSLOG = LogType(
    name="pos-syslog",
    # <134>1 2026-11-23T10:00:01.123+01:00 till-07 posd 4242 SALE - txn=P-1 amount=12.50
    #   currency=EUR pan=4111111111111111 entry=contactless terminal=T-7 merchant=M-1 mcc=5411
    pattern=re.compile(
        r"<\d{1,3}>1 (?P<event_time>\S+) (?P<pos_host>\S+) posd \S+ SALE -"
        r" txn=(?P<transaction_id>\S+)"
        r" amount=(?P<amount>\S+) currency=(?P<currency>\S+) pan=(?P<card_number>\S+)"
        r" entry=(?P<entry_mode>\S+) terminal=(?P<terminal_id>\S+) merchant=(?P<merchant_id>\S+)"
        r"(?: mcc=(?P<merchant_mcc>\S+))?\s*"
    ),
    event_start=re.compile(r"<\d{1,3}>"),
    defaults={"channel": "card_present"},
)

LOG_TYPES: dict[str, LogType] = {t.name: t for t in (PAYMENT_SERVICE, CHECKOUT_ACCESS, POS_SYSLOG)}


def log_type_option(ctx: IngestContext) -> LogType:
    """The built-in type named by `log_type`, or the one option `pattern` defines."""
    pattern = ctx.options.get("pattern")
    if pattern is None:
        name = ctx.option("log_type", PAYMENT_SERVICE.name)
        if name not in LOG_TYPES:
            known = ", ".join(sorted(LOG_TYPES))
            raise ConfigError(f"unknown log_type {name!r}; built-in: {known}, or give a pattern")
        return LOG_TYPES[name]
    start = ctx.options.get("event_start")
    return LogType(
        name=ctx.option("log_type", "custom"),
        pattern=_compile(pattern, "pattern"),
        time_format=ctx.option("time_format", "iso"),
        event_start=_compile(start, "event_start") if start else None,
    )


def _compile(regex: str, option: str) -> re.Pattern[str]:
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        raise ConfigError(f"option {option} is not a valid regex: {exc}") from exc
    groups = set(compiled.groupindex)
    missing = [g for g in REQUIRED_GROUPS if g not in groups]
    if "amount" not in groups and "amount_minor" not in groups:
        missing.append("amount")
    if option == "pattern" and missing and "json" not in groups:
        raise ConfigError(f"option pattern lacks the named group(s) {', '.join(missing)}")
    return compiled


class LineMapper:
    """Turns one matching log line into a transaction, or says why it cannot."""

    def __init__(self, log_type: LogType, builder: FlatTransactionBuilder) -> None:
        self._type = log_type
        self._builder = builder

    def parse(self, position: int, text: str) -> Parsed:
        if undecodable(text):
            return Parsed(position, printable(text), error=encoding_error("utf-8"))
        match = self._type.pattern.fullmatch(text)
        if match is None:
            message = f"does not match the {self._type.name} log pattern"
            return Parsed(position, text, error=RecordError("unparseable", message))
        try:
            values, extra = self._split(match.groupdict())
            return Parsed(position, text, events=(self._builder.build(values, extra),))
        except Exception as exc:  # a bad record never ends the run
            return rejected(position, text, exc)

    def _split(
        self, groups: dict[str, str | None]
    ) -> tuple[dict[str, object], dict[str, AttributeValue]]:
        values: dict[str, object] = dict(self._type.defaults)
        extra: dict[str, AttributeValue] = {}
        body = groups.pop("json", None)
        items: list[tuple[str, Any]] = [(k, v) for k, v in groups.items() if v is not None]
        if body is not None:
            items += [(self._type.json_names.get(k, k), v) for k, v in _json_object(body).items()]
        for key, value in items:
            if key in FLAT_FIELDS:
                values[key] = value
            elif isinstance(value, dict | list):
                extra[key] = msgspec.json.encode(value).decode()
            else:
                extra[key] = attribute_value(value)
        return values, extra


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = decoder.decode(text)
    except Exception as exc:
        raise RecordError("unparseable", f"the JSON part is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RecordError("unparseable", "the JSON part is not a JSON object")
    return value


@dataclass(slots=True)
class _Folded:
    """A dead letter being assembled: an unmatched line and the continuation lines below it."""

    position: int
    lines: list[str]
    error: RecordError
    size: int = 0

    def full(self) -> bool:
        return len(self.lines) >= MAX_GROUP_LINES or self.size >= RAW_LIMIT

    def add(self, line: str) -> None:
        self.lines.append(line)
        self.size += len(line) + 1

    def parsed(self) -> Parsed:
        extra = len(self.lines) - 1
        message = self.error.message.removeprefix(f"{self.error.field}: ")
        if extra:
            message += f" (with {extra} continuation line{'s' if extra > 1 else ''})"
        error = RecordError(self.error.reason, message, field=self.error.field)
        return Parsed(self.position, printable("\n".join(self.lines)), error=error)


def _orphan(position: int, line: str, log_type: LogType) -> _Folded:
    message = (
        f"continuation line(s) (a stack trace or wrapped text) with no unmatched "
        f"{log_type.name} line above them to belong to"
    )
    return _Folded(position, [line], RecordError("unparseable", message), len(line) + 1)


@register_format
class AppLog:
    """Reads payments out of application logs (options: `log_type`, `pattern`, `time_format`,
    `event_start`, `timezone`, `source`)."""

    name: ClassVar[str] = NAME
    summary: ClassVar[str] = "application log lines parsed by a per-log-type regex"

    def read(self, location: str, ctx: IngestContext) -> Iterator[Parsed]:
        log_type = log_type_option(ctx)
        builder = FlatTransactionBuilder(
            ctx,
            default_source=log_type.name,
            zone=zone_option(ctx, "UTC"),
            time_format=log_type.time_format,
        )
        mapper = LineMapper(log_type, builder)
        folded: _Folded | None = None
        for position, line in numbered_lines(location, ctx.progress):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            if log_type.is_continuation(text):
                if folded is not None and folded.full():
                    yield folded.parsed()
                    folded = None
                if folded is None:
                    folded = _orphan(position, text, log_type)
                else:
                    folded.add(text)
                continue
            if folded is not None:
                yield folded.parsed()
                folded = None
            parsed = mapper.parse(position, text)
            if parsed.error is None:
                yield parsed
            else:
                folded = _Folded(position, [parsed.raw], parsed.error, len(parsed.raw) + 1)
        if folded is not None:
            yield folded.parsed()
