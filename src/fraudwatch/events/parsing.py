"""Field parsers shared by the source formats; each raises `RecordError` naming the field."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from fraudwatch.errors import RecordError
from fraudwatch.events.currency import CURRENCIES, currency_for_numeric, from_minor_units


def required(row: Mapping[str, object], key: str, *, field: str | None = None) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordError("missing_field", "is required", field=field or key)
    return str(value).strip()


def optional(row: Mapping[str, object], key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def decimal(text: str, field: str, *, decimal_comma: bool = False) -> Decimal:
    """`"1.234,56"` with `decimal_comma=True` and `"1234.56"` both give `Decimal("1234.56")`."""
    cleaned = text.strip().replace(" ", "").replace("\u00a0", "")
    if decimal_comma:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise RecordError("bad_number", f"{text!r} is not a number", field=field) from None
    if not value.is_finite():
        raise RecordError("bad_number", f"{text!r} is not a finite number", field=field)
    if value < 0:
        raise RecordError("bad_number", f"{text!r} must not be negative", field=field)
    return value


def number(text: str | float | int, field: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise RecordError("bad_number", f"{text!r} is not a number", field=field) from None
    if not math.isfinite(value):
        raise RecordError("bad_number", f"{text!r} is not a finite number", field=field)
    return value


def integer(text: str | int, field: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise RecordError("bad_number", f"{text!r} is not an integer", field=field) from None


def currency(code: str, field: str = "currency") -> str:
    upper = code.strip().upper()
    if upper in CURRENCIES:
        return upper
    by_number = currency_for_numeric(upper) if upper.isdigit() else None
    if by_number is not None:
        return by_number.code
    raise RecordError("unknown_currency", f"{code!r} is not an ISO 4217 code", field=field)


def minor_units(text: str | int, code: str, field: str) -> Decimal:
    value = integer(text, field)
    if value < 0:
        raise RecordError("bad_number", f"{text!r} must not be negative", field=field)
    return from_minor_units(value, code)


def iso_time(text: str, field: str) -> datetime:
    """RFC 3339 / ISO 8601 with a zone (`Z` or an offset); a naive time is refused."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise RecordError(
            "bad_time", f"{text!r} is not an ISO 8601 timestamp", field=field
        ) from None
    if value.tzinfo is None:
        raise RecordError("bad_time", f"{text!r} has no time zone", field=field)
    return value.astimezone(UTC)


def local_time(text: str, pattern: str, zone: ZoneInfo, field: str) -> datetime:
    """A wall-clock time in `zone` (a bank export's local time) converted to UTC."""
    try:
        value = datetime.strptime(text.strip(), pattern)
    except ValueError:
        raise RecordError(
            "bad_time", f"{text!r} does not match the pattern {pattern!r}", field=field
        ) from None
    return value.replace(tzinfo=zone).astimezone(UTC)


def country(text: str | None, field: str) -> str | None:
    if text is None or not text.strip():
        return None
    upper = text.strip().upper()
    if len(upper) != 2 or not upper.isalpha():
        raise RecordError("bad_value", f"{text!r} is not an ISO 3166 alpha-2 code", field=field)
    return upper
