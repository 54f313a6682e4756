"""`ieee-cis`: the IEEE-CIS / Vesta e-commerce dataset (Kaggle `ieee-fraud-detection`).

`train_transaction.csv` (590,540 rows x 394 columns): TransactionID, isFraud, TransactionDT,
TransactionAmt, ProductCD, card1..card6, addr1, addr2, dist1, dist2, P_emaildomain,
R_emaildomain, C1..C14, D1..D15, M1..M9, V1..V339. `test_transaction.csv` has no isFraud: its
rows give transactions without labels. `train_identity.csv` / `test_identity.csv` (TransactionID,
id_01..id_38, DeviceType, DeviceInfo; the test file spells them `id-01`) hold the device and
network data of about a quarter of the transactions.

The identity file is the one in-memory side table of the dataset formats: about 144,000 rows,
each kept as one compact string keyed by TransactionID (about 50 MB for the 25 MB file), joined
as the transactions stream by. Option `identity` names it; by default
`<prefix>_identity.csv[.gz]` beside `<prefix>_transaction.csv[.gz]` is used when it exists
(`identity=none` turns the join off).

Mapping: `event_time = start + TransactionDT` seconds (option `start`, default 2017-12-01Z, the
reference date the competition's community settled on), currency USD, channel e-commerce
(Vesta's data is all card-not-present). The card token is keyed by
`card1|card2|card3|card5|card6`, the masked card columns: the closest the data comes to a card
id, though cards of one issuer and type share a key. Every known column passes through as an
attribute under its own name: numbers as floats, the T/F flags (M1-M3, M5-M9, id_35-id_38) as
booleans, the categorical ones as text; empty cells are omitted. DeviceType, DeviceInfo, id_30
(OS), id_31 (browser) and id_33 (screen) also make the `Device`.
"""

from __future__ import annotations

import csv
import re
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

from fraudwatch.errors import FraudwatchError, RecordError
from fraudwatch.events.formats.base import IngestContext, Parsed, register_format
from fraudwatch.events.formats.datasets.fields import (
    amount,
    cell,
    currency_option,
    dataset_label,
    dataset_source,
    flag,
    float_attributes,
    offset,
    pick,
    remember,
    stable_id,
    start_option,
)
from fraudwatch.events.formats.datasets.tabular import Table, open_table, read_rows
from fraudwatch.events.formats.textio import printable
from fraudwatch.events.model import AttributeValue, Card, Channel, Device, Event, Transaction

DEFAULT_START = "2017-12-01T00:00:00+00:00"
CARD_KEY = ("card1", "card2", "card3", "card5", "card6")
_NUMBER = re.compile(r"(card[1235]|addr[12]|dist[12]|[CDV]\d+)")
_FLAG = re.compile(r"(M[1-35-9])")
_TEXT = frozenset(
    {
        "ProductCD",
        "card4",
        "card6",
        "P_emaildomain",
        "R_emaildomain",
        "M4",
        "DeviceType",
        "DeviceInfo",
    }
)
_ID_NUMBERS = frozenset({*range(1, 12), 13, 14, *range(17, 23), 24, 25, 26, 32})
_ID_FLAGS = frozenset({35, 36, 37, 38})
_ID = re.compile(r"id[_-](\d\d)")
_SEPARATOR = "\x1f"  # joins an identity row's cells; never found in the dataset's text
_FLAG_VALUES = {"T": True, "F": False}


def column_kind(name: str) -> str | None:
    """`number`, `flag` or `text` for a known column, None for one to ignore."""
    if _NUMBER.fullmatch(name):
        return "number"
    if _FLAG.fullmatch(name):
        return "flag"
    if name in _TEXT:
        return "text"
    identity = _ID.fullmatch(name)
    if identity:
        number = int(identity.group(1))
        return "number" if number in _ID_NUMBERS else "flag" if number in _ID_FLAGS else "text"
    return None


class _Attributes:
    """Turns the known columns of one header (transaction or identity) into attributes."""

    def __init__(self, columns: Sequence[str]) -> None:
        names = [f"id_{name[3:]}" if name.startswith("id-") else name for name in columns]
        kinds = [column_kind(name) for name in names]
        numbers = [i for i, kind in enumerate(kinds) if kind == "number"]
        self.names = names
        self.number_names = [names[i] for i in numbers]
        self.numbers = pick(numbers)
        self.flags = [(names[i], i) for i, kind in enumerate(kinds) if kind == "flag"]
        self.texts = [(names[i], i) for i, kind in enumerate(kinds) if kind == "text"]

    def of(self, cells: list[str]) -> dict[str, AttributeValue]:
        attributes = float_attributes(self.number_names, self.numbers(cells))
        for name, index in self.flags:
            if text := cells[index].strip():
                value = _FLAG_VALUES.get(text)
                if value is None:
                    raise RecordError("bad_value", f"{text!r} is not T or F", field=name)
                attributes[name] = value
        for name, index in self.texts:
            if text := cells[index].strip():
                attributes[name] = text
        return attributes


class IdentityTable:
    """The identity rows by TransactionID, each one compact string, split again on lookup."""

    def __init__(self, table: Table, dataset: str) -> None:
        (id_i,) = table.require(dataset, "TransactionID")
        self.attributes = _Attributes(table.columns)
        width = len(table.columns)
        self._rows: dict[str, str] = {}
        while True:
            try:
                for cells in table.rows:
                    if len(cells) == width and cells[id_i].strip():  # a broken row adds nothing
                        self._rows[cells[id_i].strip()] = printable(_SEPARATOR.join(cells))
                break
            except csv.Error:  # nor does a row that is not CSV; the reader goes on after it
                continue
        position = {name: i for i, name in enumerate(self.attributes.names)}
        self._device = [position.get(name) for name in ("DeviceInfo", "id_30", "id_31", "id_33")]
        self._type = position.get("DeviceType")

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, transaction_id: str) -> list[str] | None:
        row = self._rows.get(transaction_id)
        return None if row is None else row.split(_SEPARATOR)

    def device(self, cells: list[str], cache: dict[str, Device]) -> Device | None:
        """The device of an identity row, when it says anything beyond the device type."""
        info, system, browser, screen = (
            cells[i].strip() if i is not None else "" for i in self._device
        )
        if not (info or system or browser or screen):
            return None
        key = "|".join((info, system, browser, screen))
        device_type = cells[self._type].strip() if self._type is not None else ""
        cache_key = f"{key}|{device_type}"
        return cache.get(cache_key) or remember(
            cache,
            cache_key,
            Device(id=stable_id("dev_", key), type=device_type or None, os=system or info or None),
        )


def identity_location(location: str, ctx: IngestContext) -> str | None:
    """Option `identity`, else `<prefix>_identity.csv[.gz]` beside the transaction file."""
    explicit = ctx.options.get("identity")
    if explicit:
        return None if explicit.lower() in ("none", "off", "no") else explicit
    path = Path(location)
    if location == "-" or "_transaction" not in path.name:
        return None
    name = path.name.replace("_transaction", "_identity", 1)
    other = name.removesuffix(".gz") if name.endswith(".gz") else f"{name}.gz"
    found = [candidate for n in (name, other) if (candidate := path.with_name(n)).is_file()]
    return str(found[0]) if found else None


def load_identity(location: str, ctx: IngestContext, dataset: str) -> IdentityTable:
    quiet = IngestContext(tokenizer=ctx.tokenizer, source=ctx.source, options=ctx.options)
    if not Path(location).is_file():
        raise FraudwatchError(f"cannot open the identity file {location}: no such file")
    try:
        with open_table(location, quiet) as table:
            return IdentityTable(table, dataset)
    except (EOFError, OSError, zlib.error) as exc:
        raise FraudwatchError(f"{location}: the identity file is corrupt: {exc}") from exc


@register_format
class IeeeCis:
    """Streams a transaction file, joining the identity rows held in memory."""

    name: ClassVar[str] = "ieee-cis"
    summary: ClassVar[str] = (
        "IEEE-CIS / Vesta e-commerce dataset (train/test_transaction.csv + _identity.csv)"
    )

    def read(self, location: str, ctx: IngestContext) -> Iterator[Parsed]:
        start = start_option(ctx, DEFAULT_START)
        currency = currency_option(ctx, "USD")
        source = dataset_source(ctx, self.name)
        prefix = ctx.option("id_prefix", "ieee-cis-")
        cards: dict[str, Card] = {}
        devices: dict[str, Device] = {}
        with open_table(location, ctx) as table:
            id_i, time_i, amount_i = table.require(
                self.name, "TransactionID", "TransactionDT", "TransactionAmt"
            )
            side = identity_location(location, ctx)
            identity = load_identity(side, ctx, self.name) if side else None
            fraud_i = table.find("isFraud")
            attributes_of = _Attributes(table.columns).of
            card_key = pick([i for name in CARD_KEY if (i := table.find(name)) is not None])

            def map_row(position: int, cells: list[str]) -> tuple[Event, ...]:
                raw_id = cell(cells, id_i, "TransactionID")
                transaction_id = prefix + raw_id
                event_time = start + offset(cells, time_i, "TransactionDT")
                attributes = attributes_of(cells)
                device = None
                extra = identity.get(raw_id) if identity is not None else None
                if extra is not None and identity is not None:
                    attributes.update(identity.attributes.of(extra))
                    device = identity.device(extra, devices)
                key = "|".join(text.strip() for text in card_key(cells))
                card = None
                if key.strip("|"):
                    card = cards.get(key) or remember(
                        cards, key, ctx.tokenizer.card_from_key(self.name, key)
                    )
                tx = Transaction(
                    transaction_id=transaction_id,
                    event_time=event_time,
                    amount=amount(cells, amount_i, "TransactionAmt"),
                    currency=currency,
                    source=source,
                    card=card,
                    channel=Channel.ECOMMERCE,
                    device=device,
                    attributes=attributes,
                )
                if fraud_i is None:
                    return (tx,)
                is_fraud = flag(cells, fraud_i, "isFraud")
                return tx, dataset_label(transaction_id, is_fraud, event_time, "unknown")

            yield from read_rows(table, map_row)
