"""`handbook`: the simulated data of the Fraud Detection Handbook (Le Borgne et al., ULB/Worldline).

Layout (`simulated-data-raw`/`-transformed`, daily files): TRANSACTION_ID, TX_DATETIME
(`2018-04-01 00:00:31`), CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_TIME_SECONDS, TX_TIME_DAYS,
TX_FRAUD, TX_FRAUD_SCENARIO (0 none, 1 amount above 220, 2 compromised terminal, 3 compromised
customer card with card-not-present spending). pandas exports often add an unnamed leading index
column, and the transformed files add feature columns: both are ignored, columns go by name.

Read as CSV (`.csv`, `.csv.gz`) or Parquet (`.parquet`/`.pq`, or a folder of them), where
TX_DATETIME is a timestamp column. The book's own daily `.pkl` files are refused: unpickling
untrusted data runs arbitrary code.

Mapping: the customer is the card holder (card token from `handbook:<CUSTOMER_ID>`), the terminal
is both `terminal_id` and the merchant id; naive times are UTC; currency option default EUR.
`transaction_id` is `<id_prefix><TRANSACTION_ID>` (prefix default `handbook-`, since bare
numbers collide with other sources' ids in one store).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
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
    optional_cell,
    remember,
)
from fraudwatch.events.formats.datasets.tabular import open_table, read_rows
from fraudwatch.events.model import Card, Event, Merchant, Transaction

SCENARIOS: dict[int, str] = {1: "high_amount", 2: "compromised_terminal", 3: "compromised_card"}
REQUIRED = ("TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD")


def handbook_time(text: str, field: str = "TX_DATETIME") -> datetime:
    """`2018-04-01 00:00:31` (CSV) or the same with fractions/offset (Parquet); naive is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(
            "bad_time", f"{text!r} is not a time like 2018-04-01 00:00:31", field=field
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def fraud_type(scenario: str | None) -> str:
    """The fraud scenario's name; `unknown` when a fraud row has no (or scenario 0) number."""
    if scenario is None:
        return "unknown"
    try:
        number = int(float(scenario))
    except ValueError:
        raise RecordError(
            "bad_value", f"{scenario!r} is not a scenario number", field="TX_FRAUD_SCENARIO"
        ) from None
    if number == 0:
        return "unknown"
    return SCENARIOS.get(number, f"scenario_{number}")


@register_format
class FraudDetectionHandbook:
    """Reads the handbook's simulated transactions from CSV or Parquet in constant memory."""

    name: ClassVar[str] = "handbook"
    summary: ClassVar[str] = (
        "Fraud Detection Handbook simulated data (TRANSACTION_ID, TX_DATETIME, CUSTOMER_ID, "
        "TERMINAL_ID, TX_AMOUNT, TX_FRAUD, TX_FRAUD_SCENARIO), CSV or Parquet"
    )

    def read(self, location: str, ctx: IngestContext) -> Iterator[Parsed]:
        currency = currency_option(ctx, "EUR")
        source = dataset_source(ctx, self.name)
        prefix = ctx.option("id_prefix", "handbook-")
        cards: dict[str, Card] = {}
        merchants: dict[str, Merchant] = {}
        with open_table(location, ctx, parquet=True) as table:
            id_i, time_i, customer_i, terminal_i, amount_i, fraud_i = table.require(
                self.name, *REQUIRED
            )
            scenario_i = table.find("TX_FRAUD_SCENARIO")

            def map_row(position: int, cells: list[str]) -> tuple[Event, ...]:
                transaction_id = prefix + cell(cells, id_i, "TRANSACTION_ID")
                event_time = handbook_time(cell(cells, time_i, "TX_DATETIME"))
                customer = cell(cells, customer_i, "CUSTOMER_ID")
                terminal = cell(cells, terminal_i, "TERMINAL_ID")
                card = cards.get(customer) or remember(
                    cards, customer, ctx.tokenizer.card_from_key(self.name, customer)
                )
                merchant = merchants.get(terminal) or remember(
                    merchants, terminal, Merchant(id=terminal)
                )
                tx = Transaction(
                    transaction_id=transaction_id,
                    event_time=event_time,
                    amount=amount(cells, amount_i, "TX_AMOUNT"),
                    currency=currency,
                    source=source,
                    card=card,
                    customer_id=customer,
                    merchant=merchant,
                    terminal_id=terminal,
                )
                is_fraud = flag(cells, fraud_i, "TX_FRAUD")
                kind = fraud_type(optional_cell(cells, scenario_i)) if is_fraud else None
                return tx, dataset_label(transaction_id, is_fraud, event_time, kind)

            yield from read_rows(table, map_row)
