"""`paysim`: the PaySim mobile-money simulation (Lopez-Rojas et al.; Kaggle `ealaxi/paysim1`).

`PS_20174392719_1491204439457_log.csv`, 6.36 million rows, header `step,type,amount,nameOrig,
oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud`.
`step` is the simulation hour (1 to 743 of a 30-day month); names starting with `C` are
customers, with `M` merchants. The fraud modelled is account takeover: the fraudster empties the
victim's account by a TRANSFER to a mule account followed by a CASH_OUT.

Mapping: `transaction_id = paysim-<data row number>`, `event_time = start + step hours` (option
`start`, default 2016-09-01T00:00:00Z: the paper does not date its month), the originator is both
`customer_id` and `account_id`, a destination starting with `M` is the merchant, and the
destination is always the attribute `counterparty_id`. Amounts are in the simulator's unnamed
local currency, tagged with option `currency` (default USD).

Channels: PAYMENT -> wallet (paying a merchant from the mobile wallet), TRANSFER and DEBIT ->
transfer (to another customer, to a bank account), CASH_IN and CASH_OUT -> atm (cash put in or
taken out at an agent, the mobile-money cash point). `isFlaggedFraud` (the simulated bank's own
rule: a transfer above 200,000) is an attribute, available at decision time; `isFraud` is the
label, with fraud type `account_takeover`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
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
    offset,
    remember,
    start_option,
)
from fraudwatch.events.formats.datasets.tabular import open_table, read_rows
from fraudwatch.events.model import AttributeValue, Channel, Event, Merchant, Transaction
from fraudwatch.events.parsing import number

DEFAULT_START = "2016-09-01T00:00:00+00:00"
FRAUD_TYPE = "account_takeover"
CHANNELS: dict[str, Channel] = {
    "PAYMENT": Channel.WALLET,
    "TRANSFER": Channel.TRANSFER,
    "DEBIT": Channel.TRANSFER,
    "CASH_IN": Channel.ATM,
    "CASH_OUT": Channel.ATM,
}
REQUIRED = ("step", "type", "amount", "nameOrig", "nameDest", "isFraud")
# source column -> attribute, all optional pass-through numbers
BALANCES = (
    ("oldbalanceOrg", "old_balance_orig"),
    ("newbalanceOrig", "new_balance_orig"),
    ("oldbalanceDest", "old_balance_dest"),
    ("newbalanceDest", "new_balance_dest"),
)


@register_format
class PaySim:
    """Reads the PaySim log (or `.csv.gz`) row by row in constant memory."""

    name: ClassVar[str] = "paysim"
    summary: ClassVar[str] = "PaySim mobile-money simulation log (Kaggle PS_..._log.csv)"

    def read(self, location: str, ctx: IngestContext) -> Iterator[Parsed]:
        start = start_option(ctx, DEFAULT_START)
        currency = currency_option(ctx, "USD")
        source = dataset_source(ctx, self.name)
        hours: dict[str, datetime] = {}
        merchants: dict[str, Merchant] = {}
        with open_table(location, ctx) as table:
            step_i, type_i, amount_i, orig_i, dest_i, fraud_i = table.require(self.name, *REQUIRED)
            balances = [
                (field, attribute, index)
                for field, attribute in BALANCES
                if (index := table.find(field)) is not None
            ]
            flagged_i = table.find("isFlaggedFraud")

            def event_time_of(cells: list[str]) -> datetime:
                step = cells[step_i]
                found = hours.get(step)
                if found is None:
                    hour = offset(cells, step_i, "step", unit=timedelta(hours=1))
                    found = remember(hours, step, start + hour)
                return found

            def map_row(position: int, cells: list[str]) -> tuple[Event, ...]:
                transaction_id = f"paysim-{position}"
                event_time = event_time_of(cells)
                kind = cell(cells, type_i, "type")
                channel = CHANNELS.get(kind)
                if channel is None:
                    raise RecordError(
                        "bad_value", f"{kind!r} is not one of {', '.join(CHANNELS)}", field="type"
                    )
                origin = cell(cells, orig_i, "nameOrig")
                destination = cell(cells, dest_i, "nameDest")
                attributes: dict[str, AttributeValue] = {
                    "transaction_type": kind,
                    "counterparty_id": destination,
                }
                for field, attribute, index in balances:
                    if text := cells[index].strip():
                        attributes[attribute] = number(text, field)
                if flagged_i is not None and cells[flagged_i].strip():
                    attributes["is_flagged_fraud"] = flag(cells, flagged_i, "isFlaggedFraud")
                merchant = None
                if destination.startswith("M"):
                    merchant = merchants.get(destination) or remember(
                        merchants, destination, Merchant(id=destination)
                    )
                tx = Transaction(
                    transaction_id=transaction_id,
                    event_time=event_time,
                    amount=amount(cells, amount_i, "amount"),
                    currency=currency,
                    source=source,
                    customer_id=origin,
                    account_id=origin,
                    merchant=merchant,
                    channel=channel,
                    attributes=attributes,
                )
                is_fraud = flag(cells, fraud_i, "isFraud")
                return tx, dataset_label(transaction_id, is_fraud, event_time, FRAUD_TYPE)

            yield from read_rows(table, map_row)
