"""Conventions shared by the public-dataset formats: options, cells, flags, labels, stable ids.

Every dataset row becomes a `Transaction` and a `Label` (`source=dataset`). A dataset says whether
a transaction was fraud but never when that became known, so the label's `known_at` is the
transaction's own time; the feature engine applies a realistic label delay (a chargeback arrives
weeks later) when it builds label features and training sets, never this module.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import compress
from operator import itemgetter
from typing import TypeVar

import msgspec

from fraudwatch.errors import ConfigError, RecordError
from fraudwatch.events.formats.base import IngestContext
from fraudwatch.events.model import AttributeValue, Label, LabelSource
from fraudwatch.events.parsing import currency, decimal

_FLAGS = {
    "0": False,
    "1": True,
    "0.0": False,
    "1.0": True,
    "false": False,
    "true": True,
    "False": False,
    "True": True,
    "F": False,
    "T": True,
}
NULL_TOKENS = frozenset({"nan", "NaN", "NA", "N/A", "null", "NULL", "None"})  # all under 5 chars
_CACHE_LIMIT = 200_000
_SECOND = timedelta(seconds=1)
_MAX_OFFSET = 100 * 366 * 86_400.0

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

_float_array = msgspec.json.Decoder(list[float])


def dataset_source(ctx: IngestContext, dataset: str) -> str:
    """The events' `source`: option `source`, else the context's source, else the dataset name."""
    explicit = ctx.options.get("source")
    if explicit:
        return explicit
    return ctx.source if ctx.source and ctx.source != "unknown" else dataset


def start_option(ctx: IngestContext, default: str) -> datetime:
    """Option `start`: the time a dataset's relative clock counts from (ISO 8601, naive = UTC)."""
    text = ctx.option("start", default)
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"option start={text!r} is not an ISO 8601 time") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def currency_option(ctx: IngestContext, default: str) -> str:
    text = ctx.option("currency", default)
    try:
        return currency(text)
    except RecordError:
        raise ConfigError(f"option currency={text!r} is not an ISO 4217 code") from None


def cell(cells: list[str], index: int, field: str) -> str:
    """The stripped text of a required cell; `missing_field` naming the column when empty."""
    text = cells[index].strip()
    if not text or (len(text) < 5 and text in NULL_TOKENS):
        raise RecordError("missing_field", "is required", field=field)
    return text


def optional_cell(cells: list[str], index: int | None) -> str | None:
    if index is None:
        return None
    text = cells[index].strip()
    return None if not text or (len(text) < 5 and text in NULL_TOKENS) else text


def amount(cells: list[str], index: int, field: str) -> Decimal:
    return decimal(cell(cells, index, field), field)


def flag(cells: list[str], index: int, field: str) -> bool:
    """A 0/1 (or true/false, T/F) column such as a fraud label."""
    text = cell(cells, index, field)
    value = _FLAGS.get(text)
    if value is None:
        raise RecordError("bad_value", f"{text!r} is not 0 or 1", field=field)
    return value


def offset(cells: list[str], index: int, field: str, *, unit: timedelta = _SECOND) -> timedelta:
    """A non-negative count of `unit`s (seconds, hours) from a dataset's time base."""
    text = cell(cells, index, field)
    try:
        value = float(text)
    except ValueError:
        raise RecordError("bad_time", f"{text!r} is not a number", field=field) from None
    if not math.isfinite(value) or value < 0 or value * unit.total_seconds() > _MAX_OFFSET:
        raise RecordError(
            "bad_time", f"{text!r} is not a time offset of 0 to 100 years", field=field
        )
    return value * unit


def float_attributes(names: Sequence[str], texts: Sequence[str]) -> dict[str, AttributeValue]:
    """Numeric pass-through columns as floats; empty cells are omitted, not zero.

    Fast path: the non-empty cells joined into one JSON array and parsed by msgspec in C, several
    times faster than `float()` per cell (ULB has 28 such columns a row, IEEE-CIS hundreds). Any
    cell JSON does not accept (`nan`, `.5`, text) sends the row down the exact per-cell path,
    which names the column at fault.
    """
    dense = all(texts)
    kept = texts if dense else list(compress(texts, texts))
    try:
        values = _float_array.decode("[" + ",".join(kept) + "]")
    except msgspec.MsgspecError:
        return _slow_float_attributes(names, texts)
    if len(values) != len(kept):  # a cell held a comma, as in "1,5"
        return _slow_float_attributes(names, texts)
    return dict(zip(names if dense else compress(names, texts), values, strict=True))


def _slow_float_attributes(names: Sequence[str], texts: Sequence[str]) -> dict[str, AttributeValue]:
    values: dict[str, AttributeValue] = {}
    for name, text in zip(names, texts, strict=True):
        stripped = text.strip()
        if not stripped or stripped in NULL_TOKENS:
            continue
        try:
            value = float(stripped)
        except ValueError:
            raise RecordError("bad_number", f"{text!r} is not a number", field=name) from None
        if not math.isfinite(value):
            raise RecordError("bad_number", f"{text!r} is not a finite number", field=name)
        values[name] = value
    return values


def dataset_label(
    transaction_id: str, is_fraud: bool, event_time: datetime, fraud_type: str | None
) -> Label:
    """The dataset's verdict on a transaction, known (as far as we can tell) when it happened."""
    return Label(
        transaction_id=transaction_id,
        is_fraud=is_fraud,
        event_time=event_time,
        known_at=event_time,
        source=LabelSource.DATASET,
        fraud_type=fraud_type if is_fraud else None,
    )


def stable_id(prefix: str, text: str) -> str:
    """A short id that is the same for the same text in every run (merchant names, devices)."""
    return prefix + hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def remember(cache: dict[K, T], key: K, value: T) -> T:
    """Keep `value` for `key` while the cache is below its bound; return it either way.

    Datasets repeat a few thousand cards, merchants and dates; reusing their objects saves most of
    the per-row work. The bound keeps a file with a new key on every row from growing memory.
    """
    if len(cache) < _CACHE_LIMIT:
        cache[key] = value
    return value


def pick(indexes: Sequence[int]) -> Callable[[list[str]], Sequence[str]]:
    """The cells at `indexes` of a row, as one C-level call (`itemgetter`) per row."""
    if not indexes:
        return lambda cells: ()
    if len(indexes) == 1:
        only = indexes[0]
        return lambda cells: (cells[only],)
    return itemgetter(*indexes)
