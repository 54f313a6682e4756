"""Dead letters: every input record that could not become a canonical event, with the reason.

Nothing is dropped silently: a record is accepted, recognised as a harmless duplicate, or stored
here with where it came from (source, format, position), its raw text and why it was refused.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import msgspec

from fraudwatch.errors import RecordError

RAW_LIMIT = 65_536

REASONS: dict[str, str] = {
    "missing_field": "a required field is absent or empty",
    "bad_number": "a number (amount, coordinate, count) does not parse or is out of range",
    "bad_time": "a timestamp does not parse or lacks a time zone",
    "unknown_currency": "the currency is not an ISO 4217 code",
    "bad_card_number": "the card number is malformed or fails the Luhn check",
    "bad_value": "a field has a value of the wrong type or outside its allowed set",
    "unparseable": "the record is not valid JSON / CSV / key=value / the log pattern",
    "duplicate_conflict": "the id was seen before with different content",
    "late_event": "the event arrived later than the allowed lateness",
}


class DeadLetter(msgspec.Struct, kw_only=True):
    source: str
    format: str
    position: int
    raw: str
    reason: str
    message: str
    field: str | None = None
    created_at: datetime = msgspec.field(default_factory=lambda: datetime.now(UTC))
    id: int | None = None

    @classmethod
    def of(
        cls, error: RecordError, *, source: str, format: str, position: int, raw: str
    ) -> DeadLetter:
        return cls(
            source=source,
            format=format,
            position=position,
            raw=raw[:RAW_LIMIT],
            reason=error.reason,
            message=error.message,
            field=error.field,
        )


_MISSING = re.compile(r"missing required field `([^`]+)`")
_PATH = re.compile(r" - at `\$\.?([^`]*)`")


def from_validation_error(exc: msgspec.ValidationError | msgspec.DecodeError) -> RecordError:
    """Turn msgspec's message ('Expected `str`, got `int` - at `$.merchant.id`') into a reason."""
    text = str(exc)
    path_match = _PATH.search(text)
    path = path_match.group(1).replace("[", ".").replace("]", "") if path_match else None
    message = _PATH.sub("", text)
    missing = _MISSING.search(text)
    if missing:
        field = f"{path}.{missing.group(1)}" if path else missing.group(1)
        return RecordError("missing_field", "is required", field=field)
    if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
        return RecordError("unparseable", message)
    lowered = message.lower()
    if "currency" in lowered:
        reason = "unknown_currency"
    elif "datetime" in lowered or "time zone" in lowered or "timezone" in lowered:
        reason = "bad_time"
    elif "decimal" in lowered or "amount" in lowered or "float" in lowered or "number" in lowered:
        reason = "bad_number"
    else:
        reason = "bad_value"
    return RecordError(reason, message, field=path or None)
