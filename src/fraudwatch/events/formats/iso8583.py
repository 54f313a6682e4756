"""`iso8583-log`: an authorisation switch's log of ISO 8583 messages, one `KEY=value` line each.

    2026-11-23T10:00:00.123Z INFO authsvc MTI=0100 TXID=A-77 DE2=4111111111111111 DE3=000000
      DE4=000000012345 DE7=1123100000 DE11=123456 DE18=5411 DE22=051 DE41=TERM0001
      DE42=MERCH000000001 DE43="SHOP NAME/BERLIN/DE" DE49=978            (one line in the file)

The prefix is the log time (RFC 3339 with a zone; it is the `event_time`), the level and the
service. Values holding spaces are double-quoted with backslash escapes (logfmt style); an
unquoted value runs to the next ` KEY=`. The data elements used:

| key | meaning | canonical |
|---|---|---|
| MTI | message type: 0100 authorisation / 0200 financial request | only these are transactions |
| TXID | the switch's transaction id | transaction_id |
| DE2 | primary account number | card (tokenised) |
| DE3 | processing code: 00 purchase, 09 with cashback, 01 cash (`atm`), 40 transfer | channel |
| DE4 | amount, 12 digits in the currency's minor units | amount |
| DE7, DE11 | transmission time MMDDhhmmss, system trace audit number (STAN) | id fallback |
| DE18 | merchant category code | merchant.mcc |
| DE22 | POS entry mode (05 chip, 07 contactless, 81 e-commerce, ...) | entry_mode, channel |
| DE41, DE42 | terminal id, card acceptor (merchant) id | terminal_id, merchant.id |
| DE43 | `name/city/country` (alpha-2) | merchant name, city, country |
| DE49 | ISO 4217 numeric currency | currency |

Without TXID the id is `<DE41>-<yyyymmdd of the log time>-<DE11>`: a STAN is unique per terminal
and day, which is what acquirers match on. Other MTIs (responses, advices, 0400 reversals, 0800
network messages) and non-payment processing codes (20 refund, 30 balance inquiry, ...) are
dead-lettered as `bad_value`, never skipped. Keys not listed go to `attributes`; track data,
PIN block, expiry and chip data (DE14, DE35, DE45, DE52, DE55) are dropped, never stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from hashlib import blake2b
from typing import Any, ClassVar

from fraudwatch.errors import RecordError
from fraudwatch.events import parsing
from fraudwatch.events.currency import CURRENCIES, currency_for_numeric, from_minor_units
from fraudwatch.events.formats.base import IngestContext, Parsed, register_format, register_writer
from fraudwatch.events.formats.flatfields import FlatTransactionBuilder
from fraudwatch.events.formats.records import (
    each_line,
    exact_minor_units,
    record_error,
    renamed,
    require_pan,
)
from fraudwatch.events.model import Channel, Transaction

NAME = "iso8583-log"
TRANSACTION_MTIS = frozenset({"0100", "0200"})
_MTI_CLASS = {"1": "authorisation", "2": "financial", "3": "file action", "4": "reversal"}
_MTI_CLASS |= {"5": "reconciliation", "6": "administrative", "7": "fee collection"}
_MTI_CLASS |= {"8": "network management"}
_MTI_FUNCTION = {"0": "request", "1": "response", "2": "advice", "3": "advice response"}
_MTI_FUNCTION |= {"4": "notification", "5": "notification acknowledgement"}

PAYMENT_TYPES = {"00": None, "09": None, "01": Channel.ATM, "40": Channel.TRANSFER}
PROCESSING_CODES = {Channel.ATM: "01", Channel.TRANSFER: "40"}
PAN_ENTRY: dict[str, tuple[str | None, Channel | None]] = {
    "00": (None, None),
    "01": ("manual", Channel.CARD_PRESENT),
    "02": ("magstripe", Channel.CARD_PRESENT),
    "05": ("chip", Channel.CARD_PRESENT),
    "07": ("contactless", Channel.CARD_PRESENT),
    "10": ("credential_on_file", Channel.ECOMMERCE),
    "81": ("ecommerce", Channel.ECOMMERCE),
    "90": ("magstripe", Channel.CARD_PRESENT),
    "91": ("contactless", Channel.CARD_PRESENT),
}
ENTRY_CODES = {"manual": "01", "chip": "05", "contactless": "07", "credential_on_file": "10"}
ENTRY_CODES |= {"ecommerce": "81", "magstripe": "90"}

USED = frozenset({"MTI", "TXID", "DE2", "DE3", "DE4", "DE7", "DE11", "DE18", "DE22", "DE41"})
USED |= {"DE42", "DE43", "DE49"}
NEVER_STORED = frozenset({"DE14", "DE35", "DE36", "DE45", "DE52", "DE55"})
FIELD_NAMES = {
    "card_number": "DE2",
    "currency": "DE49",
    "merchant_id": "DE42",
    "merchant.id": "DE42",
    "merchant": "DE18/DE43",
    "merchant_country": "DE43",
}

_KEY = r"[A-Za-z][A-Za-z0-9_]*"
_PREFIX = re.compile(r"(?P<time>\d{4}-\d\d-\d\dT\S+)\s+(?P<level>\S+)\s+(?P<service>\S+)\s+")
_PAIR = re.compile(
    rf'\s*(?P<key>{_KEY})=(?:"(?P<quoted>(?:[^"\\]|\\.)*)"(?=\s|$)|(?P<bare>.*?)(?=\s+{_KEY}=|\s*$))'
)
_ESCAPE = re.compile(r"\\(.)")


def split_pairs(body: str) -> dict[str, str]:
    """`KEY=value` pairs of a log message; anything else is an `unparseable` record."""
    pairs: dict[str, str] = {}
    position, end = 0, len(body.rstrip())
    while position < end:
        match = _PAIR.match(body, position)
        if match is None:
            raise RecordError("unparseable", f"expected KEY=value at column {position + 1}")
        key, quoted = match["key"], match["quoted"]
        if key in pairs:
            raise RecordError("unparseable", f"{key} appears twice")
        pairs[key] = _ESCAPE.sub(r"\1", quoted) if quoted is not None else match["bare"]
        position = match.end()
    return pairs


def describe_mti(mti: str) -> str:
    """`0400` -> `reversal request`: what a message type is, for a dead letter's message."""
    if len(mti) != 4 or not mti.isdigit():
        return "not a message type"
    kind = _MTI_CLASS.get(mti[1], "unknown class")
    return f"{kind} {_MTI_FUNCTION.get(mti[2], 'message')}"


def _check_message(pairs: dict[str, str]) -> Channel | None:
    """Refuses what is not a payment; returns the channel the processing code implies."""
    mti = parsing.required(pairs, "MTI")
    if mti not in TRANSACTION_MTIS:
        message = f"{mti} ({describe_mti(mti)}) is not a transaction request (0100 or 0200)"
        raise RecordError("bad_value", message, field="MTI")
    code = pairs.get("DE3", "000000")
    if len(code) != 6 or not code.isdigit():
        raise RecordError("bad_value", f"{code!r} is not a 6-digit processing code", field="DE3")
    if code[:2] not in PAYMENT_TYPES:
        message = f"processing code {code} is not a payment (00, 01, 09 or 40)"
        raise RecordError("bad_value", message, field="DE3")
    return PAYMENT_TYPES[code[:2]]


def _entry_mode(pairs: dict[str, str]) -> tuple[str | None, Channel | None]:
    code = pairs.get("DE22")
    if code is None:
        return None, None
    if len(code) != 3 or not code.isdigit():
        raise RecordError("bad_value", f"{code!r} is not a 3-digit POS entry mode", field="DE22")
    return PAN_ENTRY.get(code[:2], (None, None))


def _transaction_id(pairs: dict[str, str], day: str) -> str:
    txid = pairs.get("TXID")
    if txid:
        return txid
    terminal, stan = pairs.get("DE41"), pairs.get("DE11")
    if not terminal or not stan:
        message = "is required (or DE41 terminal and DE11 STAN to derive the id)"
        raise RecordError("missing_field", message, field="TXID")
    return f"{terminal}-{day}-{stan}"


def _amount_text(pairs: dict[str, str]) -> str:
    text = parsing.required(pairs, "DE4")
    if not text.isdigit() or len(text) > 12:
        raise RecordError(
            "bad_number", f"{text!r} is not an amount of up to 12 digits", field="DE4"
        )
    return text


def _currency(pairs: dict[str, str]) -> str:
    code = parsing.required(pairs, "DE49")
    found = currency_for_numeric(code) if code.isdigit() and len(code) <= 3 else None
    if found is None:
        raise RecordError(
            "unknown_currency", f"{code!r} is not an ISO 4217 numeric code", field="DE49"
        )
    return found.code


def _merchant(pairs: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "merchant_id": (pairs.get("DE42") or "").strip() or None,
        "merchant_mcc": pairs.get("DE18"),
    }
    location = pairs.get("DE43")
    if location:
        parts = location.rsplit("/", 2)
        if len(parts) != 3:
            raise RecordError("bad_value", f"{location!r} is not name/city/country", field="DE43")
        values |= {"merchant_name": parts[0], "merchant_city": parts[1]}
        values["merchant_country"] = parts[2]
    return values


def to_transaction(
    time_text: str, pairs: dict[str, str], builder: FlatTransactionBuilder
) -> Transaction:
    """The canonical transaction of one request message."""
    processing_channel = _check_message(pairs)
    event_time = parsing.iso_time(time_text, "timestamp")
    currency = _currency(pairs)
    entry_mode, entry_channel = _entry_mode(pairs)
    values: dict[str, Any] = {
        "transaction_id": _transaction_id(pairs, event_time.strftime("%Y%m%d")),
        "event_time": event_time,
        "amount": from_minor_units(int(_amount_text(pairs)), currency),
        "currency": currency,
        "card_number": parsing.required(pairs, "DE2"),
        "terminal_id": pairs.get("DE41"),
        "entry_mode": entry_mode,
        "channel": processing_channel or entry_channel,
        **_merchant(pairs),
    }
    extra = {k: v for k, v in pairs.items() if k not in USED and k not in NEVER_STORED}
    return builder.build(values, attributes=extra)


@register_format
class Iso8583Log:
    """Reads an authorisation switch's ISO 8583 message log (options: `source`)."""

    name: ClassVar[str] = NAME
    summary: ClassVar[str] = "ISO 8583 key=value log lines (MTI 0100/0200, DE2/DE4/DE49, ...)"

    def read(self, location: str, ctx: IngestContext) -> Iterator[Parsed]:
        builder = FlatTransactionBuilder(ctx, default_source=NAME, zone=UTC)

        def parse(position: int, text: str) -> Parsed:
            prefix = _PREFIX.match(text)
            if prefix is None:
                message = "not an ISO 8583 log line (<time> <level> <service> KEY=value ...)"
                return Parsed(position, text, error=RecordError("unparseable", message))
            try:
                pairs = split_pairs(text[prefix.end() :])
                tx = to_transaction(prefix["time"], pairs, builder)
            except Exception as exc:  # a bad record never ends the run
                return Parsed(position, text, error=renamed(record_error(exc), FIELD_NAMES))
            return Parsed(position, text, events=(tx,))

        return each_line(location, ctx, parse)


def _log_time(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as loggers write it (microseconds when it has them)."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return f"{text[:-3] if moment.microsecond % 1000 == 0 else text}Z"


def quote(value: str) -> str:
    """A value as written in the log: bare when it has no space or quote, else quoted."""
    if value and not any(c.isspace() or c in '"\\' for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@register_writer
class Iso8583LogWriter:
    """Writes `0100` request lines as an authorisation switch logs them.

    Lossy where ISO 8583 has no place: customer, device, IP and geo fields are not written, and a
    `wallet` channel is written as its entry mode's channel.
    """

    name: ClassVar[str] = NAME

    def header(self) -> str | None:
        return None

    def encode(self, tx: Transaction) -> str:
        prefix = f"{_log_time(tx.event_time)} INFO authsvc"
        pairs = {"MTI": "0100", "TXID": tx.transaction_id, "DE2": require_pan(tx, NAME)}
        elements = self._protocol(tx) | self._merchant(tx)
        pairs |= sorted(elements.items(), key=lambda item: int(item[0][2:]))
        for key, value in tx.attributes.items():
            if not re.fullmatch(_KEY, key) or key in USED or key in NEVER_STORED:
                raise ValueError(f"{NAME}: attribute {key!r} cannot be written as a log key")
            pairs[key] = "" if value is None else str(value)
        return prefix + "".join(f" {key}={quote(value)}" for key, value in pairs.items())

    @staticmethod
    def _protocol(tx: Transaction) -> dict[str, str]:
        processing = PROCESSING_CODES.get(tx.channel, "00") if tx.channel else "00"
        entry = ENTRY_CODES.get(tx.entry_mode or "", "00")
        pin = "1" if tx.channel in (Channel.CARD_PRESENT, Channel.ATM) else "2"
        stan = int.from_bytes(blake2b(tx.transaction_id.encode(), digest_size=4).digest()) % 10**6
        pairs = {
            "DE3": f"{processing}0000",
            "DE4": f"{exact_minor_units(tx, NAME):012d}",
            "DE7": tx.event_time.strftime("%m%d%H%M%S"),
            "DE11": f"{stan:06d}",
            "DE22": f"{entry}{pin}",
            "DE49": CURRENCIES[tx.currency].numeric,
        }
        if tx.terminal_id is not None:
            pairs["DE41"] = tx.terminal_id
        return pairs

    @staticmethod
    def _merchant(tx: Transaction) -> dict[str, str]:
        m = tx.merchant
        if m is None:
            return {}
        pairs = {"DE42": m.id}
        if m.mcc is not None:
            pairs["DE18"] = m.mcc
        if (m.name, m.city, m.country) != (None, None, None):
            if "/" in (m.city or ""):
                raise ValueError(f"{NAME}: merchant city {m.city!r} cannot hold '/' in DE43")
            pairs["DE43"] = f"{m.name or ''}/{m.city or ''}/{m.country or ''}"
        return pairs
