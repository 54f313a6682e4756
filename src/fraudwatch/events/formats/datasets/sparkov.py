"""`sparkov`: the Sparkov-generated card transactions (Kaggle `kartik2112/fraud-detection`).

`fraudTrain.csv` / `fraudTest.csv`, header `,trans_date_trans_time,cc_num,merchant,category,amt,
first,last,gender,street,city,state,zip,lat,long,city_pop,job,dob,trans_num,unix_time,merch_lat,
merch_long,is_fraud` (the first column is pandas' unnamed index). US card holders, 2019-2020.

Mapping and the generator's artefacts it corrects:
- `trans_date_trans_time` is naive and read as UTC; `unix_time` is ignored (it is shifted by
  seven years from the date column in the published files).
- `cc_num` is tokenised like a PAN, without the Luhn check (generated numbers are card keys; a
  number failing Luhn is not a bad record); the customer id is derived from the card token.
- Merchant names carry a `fraud_` prefix on every row, fraud or not: stripped, it is no signal.
  The merchant id is a stable hash of the name; `category` gives an MCC and the channel (`*_net`
  is e-commerce, everything else card-present).
- `merch_lat`/`merch_long` are the transaction's location (the generator scatters them around
  the holder, so they are not stored on the merchant); `lat`/`long` become attributes
  `home_latitude`/`home_longitude`.
- `first`+`last` are `customer_name`; street, city, zip, date of birth and job go to `personal`
  (encrypted by storage); `age_band` at transaction time, gender, state, city_pop and category
  are attributes. Currency USD, billing country US.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import ClassVar

from fraudwatch.errors import RecordError
from fraudwatch.events.formats.base import IngestContext, Parsed, register_format
from fraudwatch.events.formats.datasets.fields import (
    amount,
    cell,
    currency_option,
    dataset_label,
    dataset_source,
    flag,
    pick,
    remember,
    stable_id,
)
from fraudwatch.events.formats.datasets.tabular import Table, open_table, read_rows
from fraudwatch.events.model import AttributeValue, Card, Channel, Event, Merchant, Transaction
from fraudwatch.events.parsing import number

# The generator's 14 categories -> a plausible merchant category code (ISO 18245).
CATEGORY_MCC: dict[str, str] = {
    "entertainment": "7999",  # recreation services
    "food_dining": "5812",  # eating places, restaurants
    "gas_transport": "5541",  # service stations
    "grocery_net": "5411",  # grocery stores, supermarkets
    "grocery_pos": "5411",
    "health_fitness": "7997",  # clubs, fitness
    "home": "5200",  # home supply warehouse stores
    "kids_pets": "5995",  # pet shops, pet food and supplies
    "misc_net": "5969",  # direct marketing, other
    "misc_pos": "5999",  # miscellaneous and specialty retail
    "personal_care": "7230",  # beauty and barber shops
    "shopping_net": "5964",  # direct marketing, catalogue merchant
    "shopping_pos": "5311",  # department stores
    "travel": "4722",  # travel agencies and tour operators
}
AGE_BANDS: tuple[tuple[int, str], ...] = (
    (18, "<18"),
    (26, "18-25"),
    (36, "26-35"),
    (46, "36-45"),
    (56, "46-55"),
    (66, "56-65"),
    (76, "66-75"),
)
REQUIRED = (
    "trans_date_trans_time",
    "cc_num",
    "merchant",
    "category",
    "amt",
    "trans_num",
    "is_fraud",
)
PERSONAL = ("street", "city", "zip", "dob", "job")
HOLDER = (
    "first",
    "last",
    "gender",
    "street",
    "city",
    "state",
    "zip",
    "lat",
    "long",
    "city_pop",
    "job",
    "dob",
)


def age_band(born: date, on: date) -> str:
    """`18-25`, `26-35`, ... `66-75`, `76+` (and `<18`) at the transaction date."""
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    for limit, band in AGE_BANDS:
        if age < limit:
            return band
    return "76+"


def channel_of(category: str) -> Channel:
    return Channel.ECOMMERCE if category.endswith("_net") else Channel.CARD_PRESENT


@dataclass(slots=True, frozen=True)
class _Holder:
    """What a row says about the card holder: the same on every row of a card, so computed once."""

    name: str | None
    personal: dict[str, str]
    attributes: dict[str, AttributeValue]
    born: date | None


class _Rows:
    """Maps the rows of one Sparkov file; caches cards, merchants and holders it has seen."""

    def __init__(self, table: Table, ctx: IngestContext, source: str, currency: str) -> None:
        (
            self.time_i,
            self.pan_i,
            self.merchant_i,
            self.category_i,
            self.amount_i,
            self.id_i,
            self.fraud_i,
        ) = table.require(Sparkov.name, *REQUIRED)
        self.holder_columns = {name: i for name in HOLDER if (i := table.find(name)) is not None}
        self.holder_key = pick(list(self.holder_columns.values()))
        self.merch_lat, self.merch_long = table.find("merch_lat"), table.find("merch_long")
        self.tokenizer = ctx.tokenizer
        self.source, self.currency = source, currency
        self.cards: dict[str, Card] = {}
        self.merchants: dict[str, Merchant] = {}
        self.holders: dict[tuple[str, ...], _Holder] = {}

    def __call__(self, position: int, cells: list[str]) -> tuple[Event, ...]:
        transaction_id = cell(cells, self.id_i, "trans_num")
        event_time = _naive_utc(cell(cells, self.time_i, "trans_date_trans_time"))
        category = cell(cells, self.category_i, "category")
        card = self.card(cells)
        holder = self.holder(cells)
        attributes = {"category": category, **holder.attributes}
        if holder.born is not None:
            attributes["age_band"] = age_band(holder.born, event_time.date())
        tx = Transaction(
            transaction_id=transaction_id,
            event_time=event_time,
            amount=amount(cells, self.amount_i, "amt"),
            currency=self.currency,
            source=self.source,
            card=card,
            customer_id="cust_" + (card.token or "").removeprefix("tok_"),
            customer_name=holder.name,
            merchant=self.merchant(cells, category),
            channel=channel_of(category),
            billing_country="US",
            latitude=_coordinate(cells, self.merch_lat, "merch_lat", 90.0),
            longitude=_coordinate(cells, self.merch_long, "merch_long", 180.0),
            attributes=attributes,
            personal=dict(holder.personal),
        )
        is_fraud = flag(cells, self.fraud_i, "is_fraud")
        return tx, dataset_label(transaction_id, is_fraud, event_time, "unknown")

    def card(self, cells: list[str]) -> Card:
        pan = cell(cells, self.pan_i, "cc_num")
        card = self.cards.get(pan)
        if card is None:
            card = self.tokenizer.card_from_number(pan, field="cc_num", check_luhn=False)
            remember(self.cards, pan, card)
        return card

    def merchant(self, cells: list[str], category: str) -> Merchant:
        name = cell(cells, self.merchant_i, "merchant").removeprefix("fraud_")
        key = f"{name}\x1f{category}"
        merchant = self.merchants.get(key)
        if merchant is None:
            mcc = CATEGORY_MCC.get(category)
            merchant = Merchant(id=stable_id("m_", name), name=name, mcc=mcc, country="US")
            remember(self.merchants, key, merchant)
        return merchant

    def holder(self, cells: list[str]) -> _Holder:
        key = tuple(self.holder_key(cells))
        holder = self.holders.get(key)
        if holder is None:
            texts = dict(zip(self.holder_columns, key, strict=True))
            holder = remember(self.holders, key, _read_holder(texts))
        return holder


def _read_holder(texts: dict[str, str]) -> _Holder:
    """Validate and map the holder's columns (name, address, birth, home) once per holder."""
    text = {name: value.strip() for name, value in texts.items() if value.strip()}
    attributes: dict[str, AttributeValue] = {}
    for name in ("gender", "state"):
        if name in text:
            attributes[name] = text[name]
    if "city_pop" in text:
        attributes["city_pop"] = int(number(text["city_pop"], "city_pop"))
    latitude = _coordinate_text(text.get("lat"), "lat", 90.0)
    longitude = _coordinate_text(text.get("long"), "long", 180.0)
    if latitude is not None and longitude is not None:
        attributes["home_latitude"], attributes["home_longitude"] = latitude, longitude
    born = None
    if "dob" in text:
        try:
            born = date.fromisoformat(text["dob"])
        except ValueError:
            raise RecordError(
                "bad_time", f"{text['dob']!r} is not a date like 1988-03-09", field="dob"
            ) from None
    full_name = " ".join(text[part] for part in ("first", "last") if part in text)
    personal = {key: text[key] for key in PERSONAL if key in text}
    return _Holder(name=full_name or None, personal=personal, attributes=attributes, born=born)


@register_format
class Sparkov:
    """Reads `fraudTrain.csv` / `fraudTest.csv` (or `.csv.gz`) row by row in constant memory."""

    name: ClassVar[str] = "sparkov"
    summary: ClassVar[str] = (
        "Sparkov simulated card transactions (Kaggle fraudTrain.csv/fraudTest.csv)"
    )

    def read(self, location: str, ctx: IngestContext) -> Iterator[Parsed]:
        currency = currency_option(ctx, "USD")
        source = dataset_source(ctx, self.name)
        with open_table(location, ctx) as table:
            yield from read_rows(table, _Rows(table, ctx, source, currency))


def _naive_utc(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(
            "bad_time",
            f"{text!r} is not a time like 2019-01-01 00:00:18",
            field="trans_date_trans_time",
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _coordinate(cells: list[str], index: int | None, field: str, limit: float) -> float | None:
    return None if index is None else _coordinate_text(cells[index].strip(), field, limit)


def _coordinate_text(text: str | None, field: str, limit: float) -> float | None:
    if not text:
        return None
    value = number(text, field)
    if not -limit <= value <= limit:
        raise RecordError("bad_number", f"{text!r} is not a coordinate on Earth", field=field)
    return value
