"""`ulb`: the ULB / Worldline credit-card dataset (Kaggle `mlg-ulb/creditcardfraud`).

`creditcard.csv`: 284,807 European card transactions over two days of September 2013, 492 fraud.
Header `"Time","V1",...,"V28","Amount","Class"`: `Time` is seconds since the first transaction,
`V1`..`V28` are anonymised PCA components, `Amount` is in euros, `Class` is 1 for fraud
(quoted, `"0"`/`"1"`). There are no ids, cards, customers or merchants.

Mapping: `transaction_id = ulb-<data row number>`, `event_time = start + Time`, currency EUR,
`V1`..`V28` pass through as float attributes; every row also gives a dataset `Label`
(`fraud_type="unknown"` when `Class` is 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter
from typing import ClassVar

from fraudwatch.events.formats.base import IngestContext, Parsed, register_format
from fraudwatch.events.formats.datasets.fields import (
    amount,
    currency_option,
    dataset_label,
    dataset_source,
    flag,
    float_attributes,
    offset,
    start_option,
)
from fraudwatch.events.formats.datasets.tabular import open_table, read_rows
from fraudwatch.events.model import Event, Transaction

DEFAULT_START = "2013-09-01T00:00:00+00:00"
FEATURES = tuple(f"V{i}" for i in range(1, 29))


@register_format
class UlbCreditCard:
    """Reads `creditcard.csv` (or `.csv.gz`) row by row in constant memory."""

    name: ClassVar[str] = "ulb"
    summary: ClassVar[str] = (
        "ULB credit-card fraud dataset (Kaggle creditcard.csv: Time, V1..V28, Amount, Class)"
    )

    def read(self, location: str, ctx: IngestContext) -> Iterator[Parsed]:
        start = start_option(ctx, DEFAULT_START)
        currency = currency_option(ctx, "EUR")
        source = dataset_source(ctx, self.name)
        with open_table(location, ctx) as table:
            time_i, amount_i, class_i = table.require(self.name, "Time", "Amount", "Class")
            features = itemgetter(*table.require(self.name, *FEATURES))

            def map_row(position: int, cells: list[str]) -> tuple[Event, ...]:
                transaction_id = f"ulb-{position}"
                event_time = start + offset(cells, time_i, "Time")
                tx = Transaction(
                    transaction_id=transaction_id,
                    event_time=event_time,
                    amount=amount(cells, amount_i, "Amount"),
                    currency=currency,
                    source=source,
                    attributes=float_attributes(FEATURES, features(cells)),
                )
                is_fraud = flag(cells, class_i, "Class")
                return tx, dataset_label(transaction_id, is_fraud, event_time, "unknown")

            yield from read_rows(table, map_row)
