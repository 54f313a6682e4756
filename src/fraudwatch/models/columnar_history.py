"""Canonical Parquet to the feature engines' rows by column (`events.columnar`), for training
and the backtest: the same `TxRow`s and `LabelRow`s as reading event by event, minutes faster.

Rows are built in file order with the per-row reader's bookkeeping: a record the fast path did
not vouch for is parsed alone and accepted or refused (counted by reason) exactly as by the
per-row reader; a repeated transaction id is refused as `duplicate`.
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fraudwatch.events.columnar import (
    BATCH_ROWS,
    LabelColumns,
    TransactionColumns,
    read_canonical_parquet,
)
from fraudwatch.events.formats.base import IngestContext
from fraudwatch.features.enrich.fx import UNITS_PER_EUR
from fraudwatch.features.enrich.ip import IpLocator
from fraudwatch.features.history import History
from fraudwatch.features.rows import LabelRow, TxRow
from fraudwatch.models.dataset import LabelledHistory, add_events

_HOUR_US = 3_600_000_000


def load_parquet_history(
    files: list[Path], ctx: IngestContext, locator: IpLocator, *, batch_rows: int = BATCH_ROWS
) -> LabelledHistory:
    out = LabelledHistory(History())
    seen: set[str] = set()
    countries: dict[str | None, str | None] = {}
    for batch in read_canonical_parquet(files, ctx, batch_rows=batch_rows):
        out.history.read += batch.rows
        fast: dict[int, TxRow | LabelRow] = {}
        kinds: dict[int, str | None] = {}
        attributes: dict[int, dict[str, Any]] = {}
        if batch.transactions is not None:
            rows = tx_rows(batch.transactions, locator, countries)
            index = batch.transactions.index.tolist()
            fast = dict(zip(index, rows, strict=True))
            attributes = dict(zip(index, batch.transactions.attributes, strict=True))
        elif batch.labels is not None:
            index = batch.labels.index.tolist()
            fast = dict(zip(index, label_rows(batch.labels), strict=True))
            kinds = dict(zip(index, batch.labels.fraud_type, strict=True))
        slow = dict(batch.slow or ())
        for at in range(batch.rows):
            row = fast.get(at)
            if row is None:
                parsed = slow[at]
                if parsed.error is not None:
                    out.history.refused[parsed.error.reason] += 1
                else:
                    add_events(out, parsed.events, seen, locator)
            elif isinstance(row, LabelRow):
                out.history.labels.append(row)
                if row.is_fraud and kinds[at]:
                    out.scenarios[row.transaction_id] = str(kinds[at])
            elif row.transaction_id in seen:
                out.history.refused["duplicate"] += 1
            else:
                seen.add(row.transaction_id)
                row.seq = len(out.history.transactions)
                out.history.transactions.append(row)
                out.keep_groups(attributes[at])
    return out


def tx_rows(
    c: TransactionColumns, locator: IpLocator, countries: dict[str | None, str | None]
) -> list[TxRow]:
    """`features.rows.tx_row` by column (seq is set when the row is accepted)."""
    n = len(c.transaction_id)
    has_merchant = np.array([m is not None for m in c.merchant], dtype=np.bool_)
    use_merchant = np.isnan(c.lat) & has_merchant
    lat = np.where(use_merchant, c.merchant_lat, c.lat)
    lon = np.where(use_merchant, c.merchant_lon, c.lon)
    for ip in set(c.ip).difference(countries):
        countries[ip] = locator.country(ip) if ip else None
    return list(
        map(
            TxRow,
            [0] * n,
            c.transaction_id,
            c.ts.tolist(),
            reporting_micro(c.amount_micro, c.currency).tolist(),
            ((c.ts // _HOUR_US) % 24).tolist(),
            c.card,
            c.customer,
            c.account,
            c.merchant,
            c.terminal,
            c.device,
            c.ip,
            c.mcc,
            c.channel,
            c.entry_mode,
            c.currency,
            c.source,
            c.merchant_country,
            c.billing_country,
            c.shipping_country,
            [countries[ip] for ip in c.ip],
            _micro_degrees(lat),
            _micro_degrees(lon),
            [_numeric(a) for a in c.attributes],
        )
    )


def reporting_micro(
    amount_micro: npt.NDArray[np.int64], currency: list[str]
) -> npt.NDArray[np.int64]:
    """`features.enrich.fx.to_reporting_micro` by column, exactly: amount / rate rounded half
    to even, in integers (rate = num / den, so amount · den / num). Amounts are below 2**50
    millionths (`events.columnar.AMOUNT_LIMIT`), so nothing overflows and Decimal's 28 digits
    never round before the integer rounding does."""
    out = amount_micro.copy()
    codes = np.array(currency, dtype=object)
    for code in set(currency):
        rate = UNITS_PER_EUR.get(code)
        if rate is None:
            continue  # unconverted
        num, den = _ratio(rate)
        at = codes == code
        q, r = np.divmod(amount_micro[at] * den, num)
        up = (2 * r > num) | ((2 * r == num) & (q % 2 == 1))
        out[at] = q + up
    return out


def _ratio(rate: Decimal) -> tuple[int, int]:
    num, den = rate.as_integer_ratio()
    return num, den


def _micro_degrees(values: npt.NDArray[np.float64]) -> list[int | None]:
    scaled = np.rint(values * 1_000_000)
    finite = np.isfinite(scaled)
    as_int = np.where(finite, scaled, 0).astype(np.int64).tolist()
    return [v if ok else None for v, ok in zip(as_int, finite.tolist(), strict=True)]


def _numeric(attributes: dict[str, Any]) -> dict[str, float]:
    """`features.rows._numeric_attributes` on a decoded attribute object."""
    out: dict[str, float] = {}
    for key, value in attributes.items():
        if isinstance(value, bool):
            out[key] = 1.0 if value else 0.0
        elif isinstance(value, int | float) and math.isfinite(value):
            out[key] = float(value)
    return out


def label_rows(c: LabelColumns) -> list[LabelRow]:
    return list(map(LabelRow, c.transaction_id, c.known_at.tolist(), c.is_fraud))
