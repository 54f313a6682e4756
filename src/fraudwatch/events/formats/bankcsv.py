"""`bank-csv`: a German bank's card-transaction export, as its back office downloads it.

`;`-separated with a header row (any column order; a UTF-8 byte-order mark is accepted), decimal
comma with `.` thousands separators (`1.234,56`), local wall-clock time `dd.mm.yyyy HH:MM:SS` in
the bank's time zone, and German labels for channel and entry mode:

    Transaktions-ID;Datum/Uhrzeit;UTC-Versatz;Betrag;Währung;Kartennummer;Kunden-ID;...
    TX-1001;25.10.2026 02:30:00;+01:00;1.234,56;EUR;4111111111111111;C-9;...

| column | canonical field | |
|---|---|---|
| Transaktions-ID | transaction_id | required |
| Datum/Uhrzeit | event_time | required, local time in option `timezone` |
| UTC-Versatz | (offset of that local time) | optional, `+01:00`; settles DST-ambiguous times |
| Betrag | amount | required, major units, `1.234,56` |
| Währung | currency | required, ISO 4217 alphabetic (or numeric) |
| Kartennummer | card number | required, tokenised at once |
| Kunden-ID, Kontonummer | customer_id, account_id | |
| Händler-ID, Händlername, MCC, Händlerort, Händlerland | merchant id, name, mcc, city, country | |
| Terminal-ID, Kanal, Eingabeart | terminal_id, channel, entry_mode | German labels, see below |
| Rechnungsland, Lieferland, IP-Adresse | billing_country, shipping_country, ip_address | |

Other columns go to `attributes` under their header name. Without `UTC-Versatz`, a local time that
occurs twice (the last hour of summer time) is read as its first occurrence, summer time; a local
time skipped by the spring change cannot come from a real clock and is dead-lettered.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from fraudwatch.errors import FraudwatchError, RecordError
from fraudwatch.events import parsing
from fraudwatch.events.currency import CURRENCIES
from fraudwatch.events.formats.base import IngestContext, Parsed, register_format, register_writer
from fraudwatch.events.formats.flatfields import FlatTransactionBuilder, zone_option
from fraudwatch.events.formats.records import exact_minor_units, record_error, renamed, require_pan
from fraudwatch.events.formats.textio import encoding_error, numbered_lines, printable, undecodable
from fraudwatch.events.model import Transaction

NAME = "bank-csv"
DELIMITER = ";"
TIME_PATTERN = "%d.%m.%Y %H:%M:%S"
_TIME = re.compile(r"(\d\d)\.(\d\d)\.(\d{4}) (\d\d):(\d\d):(\d\d)")
_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)")
DEFAULT_TIMEZONE = "Europe/Berlin"
OFFSET_COLUMN = "UTC-Versatz"

COLUMNS: dict[str, str] = {
    "Transaktions-ID": "transaction_id",
    "Datum/Uhrzeit": "event_time",
    "Betrag": "amount",
    "Währung": "currency",
    "Kartennummer": "card_number",
    "Kunden-ID": "customer_id",
    "Kontonummer": "account_id",
    "Händler-ID": "merchant_id",
    "Händlername": "merchant_name",
    "MCC": "merchant_mcc",
    "Händlerort": "merchant_city",
    "Händlerland": "merchant_country",
    "Terminal-ID": "terminal_id",
    "Kanal": "channel",
    "Eingabeart": "entry_mode",
    "Rechnungsland": "billing_country",
    "Lieferland": "shipping_country",
    "IP-Adresse": "ip_address",
}
REQUIRED = ("Transaktions-ID", "Datum/Uhrzeit", "Betrag", "Währung", "Kartennummer")
HEADER = (*REQUIRED[:2], OFFSET_COLUMN, *(c for c in COLUMNS if c not in REQUIRED[:2]))
FIELD_NAMES = {canonical: column for column, canonical in COLUMNS.items()} | {
    "merchant.id": "Händler-ID",
    "merchant": "Händler-ID",
}

CHANNELS = {
    "Präsenz": "card_present",
    "Online": "ecommerce",
    "Geldautomat": "atm",
    "Überweisung": "transfer",
    "Wallet": "wallet",
}
ENTRY_MODES = {
    "Chip": "chip",
    "Kontaktlos": "contactless",
    "Magnetstreifen": "magstripe",
    "Manuell": "manual",
    "E-Commerce": "ecommerce",
    "Hinterlegt": "credential_on_file",
}


def local_to_utc(text: str, offset: str | None, zone: ZoneInfo) -> datetime:
    """The UTC instant of a bank's wall-clock time, deterministic across DST changes.

    With an offset the matching occurrence is taken (and a wrong offset refused); without one an
    ambiguous time is its first occurrence; a time inside the spring gap does not exist.
    """
    column = "Datum/Uhrzeit"
    naive = _wall_clock(text, column)
    candidates = [naive.replace(tzinfo=zone, fold=fold) for fold in (0, 1)]
    if offset:
        wanted = _offset(offset)
        for candidate in candidates:
            if candidate.utcoffset() == wanted:
                return candidate.astimezone(UTC)
        raise RecordError(
            "bad_time", f"{text} is not at UTC{offset} in {zone.key}", field=OFFSET_COLUMN
        )
    first = candidates[0].astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) != naive:
        raise RecordError(
            "bad_time", f"{text} does not exist in {zone.key} (clocks skip it)", field=column
        )
    return first


def _wall_clock(text: str, column: str) -> datetime:
    """`dd.mm.yyyy HH:MM:SS` as a naive datetime (a regex: `strptime` is the hot spot here)."""
    match = _TIME.fullmatch(text.strip())
    try:
        if match is None:
            raise ValueError(text)
        day, month, year, hour, minute, second = map(int, match.groups())
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        message = f"{text!r} is not a local time like 23.11.2026 10:00:00"
        raise RecordError("bad_time", message, field=column) from None


def _offset(text: str) -> timedelta:
    match = _OFFSET.fullmatch(text.strip())
    if match is None:
        raise RecordError("bad_time", f"{text!r} is not an offset like +01:00", field=OFFSET_COLUMN)
    sign, hours, minutes = match.groups()
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    return -offset if sign == "-" else offset


def _label(table: dict[str, str], value: str | None) -> str | None:
    """A German label as its canonical value; an unknown label is passed on unchanged."""
    if value is None:
        return None
    return table.get(value, value)


class _LineFeed:
    """Feeds lines to `csv.reader` and remembers which lines made up the last record."""

    def __init__(self, numbered: Iterator[tuple[int, str]]) -> None:
        self._numbered = numbered
        self._lines: list[str] = []
        self.start = 0

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        number, line = next(self._numbered)
        if not self._lines:
            self.start = number
        self._lines.append(line)
        return line

    def take(self) -> tuple[int, str]:
        """`(first line number, text)` of the record just read, and forget it."""
        text = "".join(self._lines)
        self._lines = []
        return self.start, text


class _Layout:
    """Where each column is in this file's header; a missing required column fails the file."""

    def __init__(self, header: list[str], location: str, encoding: str) -> None:
        self.names = [name.strip().lstrip("\ufeff").strip() for name in header]
        if any(undecodable(name) for name in self.names):
            raise FraudwatchError(
                f"{location}: the header is not valid {encoding}; set the option encoding "
                "(bank exports are often cp1252)",
                code="bad_layout",
            )
        duplicates = sorted({n for n in self.names if self.names.count(n) > 1})
        missing = [name for name in REQUIRED if name not in self.names]
        if missing or duplicates:
            problem = f"lacks the column(s) {', '.join(missing)}" if missing else ""
            if duplicates:
                problem += f"{'; ' if problem else ''}repeats {', '.join(duplicates)}"
            raise FraudwatchError(
                f"{location}: not a {NAME} export, its header {problem} "
                f"(required: {', '.join(REQUIRED)})",
                code="bad_layout",
            )

    def fields(self, row: list[str]) -> tuple[dict[str, str | None], dict[str, str | None]]:
        """`(known columns by name, other columns by name)`; empty cells are None."""
        known: dict[str, str | None] = {}
        other: dict[str, str | None] = {}
        for name, value in zip(self.names, row, strict=True):
            (known if name in COLUMNS or name == OFFSET_COLUMN else other)[name] = value or None
        return known, other


@register_format
class BankCsv:
    """Reads a bank's `;`-separated CSV export (options: `timezone`, `encoding`, `source`)."""

    name: ClassVar[str] = NAME
    summary: ClassVar[str] = "bank CSV export: ';', decimal comma, local dd.mm.yyyy time"

    def read(self, location: str, ctx: IngestContext) -> Iterator[Parsed]:
        zone = zone_option(ctx, DEFAULT_TIMEZONE)
        encoding = ctx.option("encoding", "utf-8-sig")
        builder = FlatTransactionBuilder(ctx, default_source=NAME, zone=zone)
        feed = _LineFeed(numbered_lines(location, ctx.progress, encoding=encoding))
        reader = csv.reader(feed, delimiter=DELIMITER, strict=True)
        layout: _Layout | None = None
        for position, raw, row in _records(reader, feed):
            if isinstance(row, RecordError):
                yield Parsed(position, printable(raw), error=row)
            elif layout is None:
                layout = _Layout(row, location, encoding)
            elif undecodable(raw):
                yield Parsed(position, printable(raw), error=encoding_error(encoding))
            else:
                yield self._parse(position, row, layout, builder, zone)

    @staticmethod
    def _parse(
        position: int,
        row: list[str],
        layout: _Layout,
        builder: FlatTransactionBuilder,
        zone: ZoneInfo,
    ) -> Parsed:
        raw = DELIMITER.join(row)
        if len(row) != len(layout.names):
            message = f"has {len(row)} fields, the header has {len(layout.names)}"
            return Parsed(position, raw, error=RecordError("unparseable", message))
        try:
            return Parsed(position, raw, events=(_transaction(row, layout, builder, zone),))
        except Exception as exc:  # a bad record never ends the run
            return Parsed(position, raw, error=renamed(record_error(exc), FIELD_NAMES))


def _records(
    reader: Iterator[list[str]], feed: _LineFeed
) -> Iterator[tuple[int, str, list[str] | RecordError]]:
    """`(first line, raw text, row or CSV error)` per record; blank lines are no record."""
    while True:
        try:
            row: list[str] | RecordError = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            row = RecordError("unparseable", f"not valid CSV: {exc}")
        position, raw = feed.take()
        if row != []:
            yield position, raw.rstrip("\r\n"), row


def _transaction(
    row: list[str], layout: _Layout, builder: FlatTransactionBuilder, zone: ZoneInfo
) -> Transaction:
    known, other = layout.fields(row)
    values: dict[str, Any] = {
        COLUMNS[name]: value for name, value in known.items() if name in COLUMNS
    }
    time_text = parsing.required(known, "Datum/Uhrzeit")
    values["event_time"] = local_to_utc(time_text, known.get(OFFSET_COLUMN), zone)
    amount_text = parsing.required(known, "Betrag")
    values["amount"] = parsing.decimal(amount_text, "Betrag", decimal_comma=True)
    values["channel"] = _label(CHANNELS, known.get("Kanal"))
    values["entry_mode"] = _label(ENTRY_MODES, known.get("Eingabeart"))
    return builder.build(values, attributes=other)


def _merchant_cells(tx: Transaction) -> dict[str, str | None]:
    m = tx.merchant
    if m is None:
        return {}
    return {
        "Händler-ID": m.id,
        "Händlername": m.name,
        "MCC": m.mcc,
        "Händlerort": m.city,
        "Händlerland": m.country,
    }


def _amount_text(tx: Transaction) -> str:
    """`Decimal("1234.5")` in EUR as `1.234,50`: the currency's decimals, German separators."""
    exact_minor_units(tx, NAME)
    exponent = CURRENCIES[tx.currency].exponent
    grouped = f"{tx.amount.quantize(Decimal(1).scaleb(-exponent)):,.{exponent}f}"
    return grouped.translate(str.maketrans(",.", ".,"))


@register_writer
class BankCsvWriter:
    """Writes the export a bank in `timezone` would produce; seconds are the finest unit."""

    name: ClassVar[str] = NAME

    def __init__(self, timezone: str = DEFAULT_TIMEZONE) -> None:
        self._zone = ZoneInfo(timezone)
        self._channels = {value: label for label, value in CHANNELS.items()}
        self._entry_modes = {value: label for label, value in ENTRY_MODES.items()}

    def header(self) -> str | None:
        return self._line(list(HEADER))

    def encode(self, tx: Transaction) -> str:
        local = tx.event_time.astimezone(self._zone)
        offset = local.strftime("%z")
        values = {
            "Transaktions-ID": tx.transaction_id,
            "Datum/Uhrzeit": local.strftime(TIME_PATTERN),
            OFFSET_COLUMN: f"{offset[:3]}:{offset[3:]}",
            "Betrag": _amount_text(tx),
            "Währung": tx.currency,
            "Kartennummer": require_pan(tx, NAME),
            "Kunden-ID": tx.customer_id,
            "Kontonummer": tx.account_id,
            "Terminal-ID": tx.terminal_id,
            "Kanal": tx.channel and self._channels.get(tx.channel, tx.channel),
            "Eingabeart": tx.entry_mode and self._entry_modes.get(tx.entry_mode, tx.entry_mode),
            "Rechnungsland": tx.billing_country,
            "Lieferland": tx.shipping_country,
            "IP-Adresse": tx.ip_address,
            **_merchant_cells(tx),
        }
        return self._line([values.get(name) or "" for name in HEADER])

    @staticmethod
    def _line(cells: list[str]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=DELIMITER, lineterminator="\n").writerow(cells)
        return buffer.getvalue()[:-1]
