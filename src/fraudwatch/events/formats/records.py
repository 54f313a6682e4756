"""The per-record plumbing every source format shares: failures, card data, sources, lines.

`record_error`/`rejected` are the one place that turns whatever went wrong while mapping a record
into the `RecordError` of a dead letter, so no reader crashes a run on a bad record; `each_line`
is the loop of a one-record-per-line format built on them. `scrub_attributes` enforces that
pass-through attributes never carry card data: sensitive authentication data (CVV, PIN, track
data, expiry, a PAN under its own name) is dropped by key, and any Luhn-valid 12-19 digit run is
masked to its BIN and last four, whatever key it hides under. `require_pan` and
`exact_minor_units` keep the gateway writers from sending a token or rounding an amount.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import msgspec

from fraudwatch.errors import RecordError
from fraudwatch.events.currency import CURRENCIES
from fraudwatch.events.deadletter import from_validation_error
from fraudwatch.events.formats.base import IngestContext, Parsed
from fraudwatch.events.formats.textio import encoding_error, numbered_lines, printable, undecodable
from fraudwatch.events.model import AttributeValue, Transaction
from fraudwatch.security.masking import mask_pans

SENSITIVE_KEYS = frozenset(
    {
        "cvv", "cvv2", "cvc", "cvc2", "cid", "csc", "pin", "pin_block", "pinblock",
        "track1", "track2", "track_data", "trackdata", "expiry", "expiry_date", "exp_date",
        "pan", "card_number", "cardnumber", "card_no",
    }
)  # fmt: skip


def rejected(position: int, raw: str, exc: Exception) -> Parsed:
    """The dead-letter `Parsed` for a record whose mapping raised `exc`."""
    return Parsed(position, raw, error=record_error(exc))


def record_error(exc: Exception) -> RecordError:
    """`exc` as a `RecordError`: msgspec errors keep their path, the unexpected is bad_value."""
    if isinstance(exc, RecordError):
        return exc
    if isinstance(exc, msgspec.ValidationError | msgspec.DecodeError):
        return from_validation_error(exc)
    return RecordError("bad_value", f"{type(exc).__name__}: {exc}")


def resolve_source(ctx: IngestContext, named_in_data: str | None, default: str) -> str:
    """The `source` of an event: option `source` (`--source`), else the bank named in the data,
    else the format's default (as the dataset formats do)."""
    return ctx.options.get("source") or named_in_data or default


def _is_sensitive(key: str) -> bool:
    last = key.rsplit(".", 1)[-1].lower().replace("-", "_")
    return last in SENSITIVE_KEYS


def scrub_attributes(attributes: Mapping[str, AttributeValue]) -> dict[str, AttributeValue]:
    """`attributes` without card data: sensitive keys dropped, PAN-like values masked."""
    return {key: _scrub_value(value) for key, value in attributes.items() if not _is_sensitive(key)}


def _scrub_value(value: AttributeValue) -> AttributeValue:
    if isinstance(value, str) and sum(c.isdigit() for c in value) >= 12:
        return mask_pans(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10**11:
        masked = mask_pans(str(value))
        return value if masked.isdigit() else masked
    return value


def require_pan(tx: Transaction, format_name: str) -> str:
    """The PAN a gateway writer must put on the wire; a clear error if `tx` holds only a token."""
    if tx.card is None or tx.card.number is None:
        raise ValueError(
            f"{format_name} needs the card number: transaction {tx.transaction_id!r} has "
            "no card.number (only a tokenised card), and this format always carries the PAN"
        )
    return tx.card.number


def exact_minor_units(tx: Transaction, format_name: str) -> int:
    """`tx.amount` in minor units; refuses an amount that would be rounded on the wire."""
    exponent = CURRENCIES[tx.currency].exponent
    scaled = tx.amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(
            f"{format_name}: amount {tx.amount} {tx.currency} has more decimals than the "
            f"currency's {exponent}; it cannot be written without rounding"
        )
    return int(scaled)


def each_line(
    location: str,
    ctx: IngestContext,
    parse: Callable[[int, str], Parsed],
    *,
    encoding: str = "utf-8",
) -> Iterator[Parsed]:
    """The loop of a one-record-per-line format: one `Parsed` per non-blank line, in order.

    Positions are physical line numbers; blank lines carry no record and are passed over.
    A line with bytes invalid in `encoding`, or whose `parse` raises, becomes a dead letter.
    """
    for position, line in numbered_lines(location, ctx.progress, encoding=encoding):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        if undecodable(text):
            yield Parsed(position, printable(text), error=encoding_error(encoding))
            continue
        try:
            yield parse(position, text)
        except Exception as exc:  # a bad record never ends the run
            yield rejected(position, text, exc)


def renamed(error: RecordError, names: Mapping[str, str]) -> RecordError:
    """`error` with its field renamed from a canonical name to the source's own (a CSV column)."""
    if error.field is None or error.field not in names:
        return error
    message = error.message.removeprefix(f"{error.field}: ")
    return RecordError(error.reason, message, field=names[error.field])
