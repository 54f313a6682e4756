"""Canonical Parquet read by column: what `parquet` yields, without one event object per row.

The per-row reader (`formats/canonical.py`) turns each row into a dict, a `Transaction` and its
validation: about 170 µs a transaction, minutes for millions. Training and the backtest only need
the normalised values, so this module validates and normalises whole Arrow columns at once (card
numbers tokenised once per distinct number, times as µs integers, amounts as integer millionths,
JSON attributes decoded once per distinct text).

The fast path only vouches for rows it can prove valid with checks at least as strict as the
canonical structs' own. Every other row (a bad value, an unusual one such as a Unicode digit) is
handed to the per-row parser, so it is accepted or refused exactly as `fraudwatch ingest` would
refuse it, with the same reason: nothing is silently dropped. A file whose column types differ
from the flat canonical layout is read wholly by the per-row parser.
`tests/models/test_columnar.py` checks both paths give identical feature rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fraudwatch.errors import RecordError
from fraudwatch.events.currency import CURRENCIES
from fraudwatch.events.flat import LABEL_SCHEMA, TRANSACTION_SCHEMA
from fraudwatch.events.formats.base import IngestContext, Parsed
from fraudwatch.events.formats.canonical import _kind, _parse_row
from fraudwatch.events.model import Channel, Label, LabelSource, Login, Transaction

BATCH_ROWS = 131_072
#: integer millionths of an amount handled by the fast path (beyond: the per-row parser)
AMOUNT_LIMIT = 2**50
#: the µs range of Python's datetime (years 1 to 9999)
_TIME_RANGE = (-62_135_596_800_000_000, 253_402_300_800_000_000)
_TEXT_TYPES = (pa.string(), pa.large_string())
_ATTRIBUTE_TYPES = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)
_INT64 = (-(2**63), 2**63 - 1)

Strings = list[str | None]


@dataclass
class TransactionColumns:
    """The rows of a batch the fast path vouched for, normalised, in file order."""

    index: npt.NDArray[np.int64]  # row numbers within the batch
    transaction_id: list[str]
    ts: npt.NDArray[np.int64]  # µs since the epoch, UTC
    amount_micro: npt.NDArray[np.int64]  # millionths of a unit of `currency`
    currency: list[str]
    source: list[str]
    card: Strings  # token (a card number is tokenised)
    customer: Strings
    account: Strings
    merchant: Strings
    mcc: Strings
    merchant_country: Strings
    merchant_lat: npt.NDArray[np.float64]  # NaN: none
    merchant_lon: npt.NDArray[np.float64]
    terminal: Strings
    channel: Strings
    entry_mode: Strings
    device: Strings
    ip: Strings
    billing_country: Strings
    shipping_country: Strings
    lat: npt.NDArray[np.float64]  # NaN: none
    lon: npt.NDArray[np.float64]
    attributes: list[dict[str, Any]]


@dataclass
class LabelColumns:
    index: npt.NDArray[np.int64]
    transaction_id: list[str]
    known_at: npt.NDArray[np.int64]
    is_fraud: list[bool]
    fraud_type: Strings


@dataclass
class ColumnarBatch:
    """One batch of one file: the vouched-for rows as columns, the others parsed one by one
    (`slow`: row number within the batch and the per-row parser's result), `rows` in all."""

    rows: int
    transactions: TransactionColumns | None = None
    labels: LabelColumns | None = None
    slow: list[tuple[int, Parsed]] | None = None


def read_canonical_parquet(
    files: list[Path], ctx: IngestContext, *, batch_rows: int = BATCH_ROWS
) -> Iterator[ColumnarBatch]:
    """Every row of the files, batch by batch; login files are read by the per-row parser."""
    position = 0
    for file in files:
        parquet = pq.ParquetFile(file)
        schema = parquet.schema_arrow
        kind = _kind(schema.names, file)
        fast = kind is not Login and _fast_schema(schema, kind)
        total, done = parquet.metadata.num_rows, 0
        for batch in parquet.iter_batches(batch_size=batch_rows):
            if fast and kind is Transaction:
                yield _transactions(batch, position, ctx)
            elif fast:
                yield _labels(batch, position, ctx)
            else:
                yield _all_slow(batch, position, kind, ctx)
            position += batch.num_rows
            done += batch.num_rows
            ctx.progress(done, total)


def _fast_schema(schema: pa.Schema, kind: type[Transaction] | type[Label] | type[Login]) -> bool:
    """Column types the fast path reads exactly like the per-row parser does."""
    layout = TRANSACTION_SCHEMA if kind is Transaction else LABEL_SCHEMA
    for field in schema:
        expected = layout.field(field.name).type if field.name in layout.names else None
        if expected is None:
            if kind is not Transaction or not (
                field.type in _TEXT_TYPES or any(test(field.type) for test in _ATTRIBUTE_TYPES)
            ):
                return False  # an extra label column, or an attribute of another type
        elif pa.types.is_timestamp(expected):
            if not (pa.types.is_timestamp(field.type) and field.type.unit == "us"):
                return False
            if field.type.tz is None:
                return False
        elif pa.types.is_decimal(expected):
            if not (pa.types.is_decimal128(field.type) and field.type.scale == 6):
                return False
        elif expected == pa.string():
            if field.type not in _TEXT_TYPES:
                return False
        elif field.type != expected:
            return False
    return True


def _all_slow(
    batch: pa.RecordBatch,
    position: int,
    kind: type[Transaction] | type[Label] | type[Login],
    ctx: IngestContext,
) -> ColumnarBatch:
    slow = [
        (at, _parse_row(position + at + 1, row, kind, ctx))
        for at, row in enumerate(batch.to_pylist())
    ]
    return ColumnarBatch(batch.num_rows, slow=slow)


def _slow_rows(
    batch: pa.RecordBatch,
    position: int,
    ok: npt.NDArray[np.bool_],
    kind: type[Transaction] | type[Label],
    ctx: IngestContext,
) -> list[tuple[int, Parsed]]:
    rows = np.flatnonzero(~ok)
    if not len(rows):
        return []
    picked = batch.take(pa.array(rows)).to_pylist()
    return [
        (int(at), _parse_row(position + int(at) + 1, row, kind, ctx))
        for at, row in zip(rows, picked, strict=True)
    ]


# --- column helpers --------------------------------------------------------------------------


class _Columns:
    """A batch's columns by name; an absent column reads as all nulls."""

    def __init__(self, batch: pa.RecordBatch) -> None:
        self.batch = batch
        self.n = batch.num_rows
        self.names = set(batch.schema.names)

    def get(self, name: str) -> pa.Array | None:
        return self.batch.column(name) if name in self.names else None

    def valid(self, name: str) -> npt.NDArray[np.bool_]:
        column = self.get(name)
        if column is None:
            return np.zeros(self.n, dtype=np.bool_)
        return _np(column.is_valid())

    def matches(self, name: str, pattern: str) -> npt.NDArray[np.bool_]:
        """Null, or the whole text matches `pattern`."""
        column = self.get(name)
        if column is None:
            return np.ones(self.n, dtype=np.bool_)
        hit = pc.match_substring_regex(column, pattern)
        return _np(pc.or_kleene(column.is_null(), hit))

    def one_of(self, name: str, values: list[str]) -> npt.NDArray[np.bool_]:
        column = self.get(name)
        if column is None:
            return np.ones(self.n, dtype=np.bool_)
        return _np(pc.or_kleene(column.is_null(), pc.is_in(column, pa.array(values))))

    def length_ok(self, name: str, low: int = 1, high: int = 128) -> npt.NDArray[np.bool_]:
        """Present, with `low` to `high` characters (msgspec counts code points too)."""
        column = self.get(name)
        if column is None:
            return np.zeros(self.n, dtype=np.bool_)
        length = pc.utf8_length(column)
        inside = pc.and_kleene(pc.greater_equal(length, low), pc.less_equal(length, high))
        return _np(inside)

    def strings(self, name: str) -> Strings:
        """Python strings, one object per distinct value (dictionary encoded)."""
        column = self.get(name)
        if column is None:
            return [None] * self.n
        encoded = pc.dictionary_encode(column)
        values = [*encoded.dictionary.to_pylist(), None]
        indices = encoded.indices.fill_null(len(values) - 1).to_numpy()
        return [values[i] for i in indices.tolist()]

    def floats(self, name: str) -> npt.NDArray[np.float64]:
        column = self.get(name)
        if column is None:
            return np.full(self.n, np.nan)
        out: npt.NDArray[np.float64] = column.to_numpy(zero_copy_only=False).astype(np.float64)
        out[~self.valid(name)] = np.nan
        return out

    def times(self, name: str) -> npt.NDArray[np.int64]:
        column = self.get(name)
        assert column is not None
        out: npt.NDArray[np.int64] = column.cast(pa.int64()).fill_null(0).to_numpy()
        return out


def _np(array: pa.Array) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = array.fill_null(False).to_numpy(zero_copy_only=False)
    return out.astype(np.bool_, copy=False)


def _geo_ok(c: _Columns, lat: str, lon: str) -> npt.NDArray[np.bool_]:
    """Both absent, or both present and on Earth (NaN is not)."""
    a, b = c.floats(lat), c.floats(lon)
    both_absent = ~c.valid(lat) & ~c.valid(lon)
    with np.errstate(invalid="ignore"):
        on_earth = (np.abs(a) <= 90) & (np.abs(b) <= 180)
    return both_absent | (c.valid(lat) & c.valid(lon) & on_earth)


_COUNTRY = "^[A-Z]{2}$"


# --- transactions ------------------------------------------------------------------------------


def _transactions(batch: pa.RecordBatch, position: int, ctx: IngestContext) -> ColumnarBatch:
    c = _Columns(batch)
    ok = c.length_ok("transaction_id") & c.valid("event_time") & c.valid("currency")
    ts = c.times("event_time")
    ok &= (ts >= _TIME_RANGE[0]) & (ts < _TIME_RANGE[1])
    micro = _amount_micro(c.get("amount"), c.n)
    ok &= (micro >= 0) & (micro < AMOUNT_LIMIT)
    ok &= c.one_of("currency", sorted(CURRENCIES))
    ok &= _card_ok(c)
    ok &= _merchant_ok(c)
    ok &= ~(_any_valid(c, _DEVICE) & ~c.length_ok("device_id"))
    ok &= c.one_of("channel", [channel.value for channel in Channel])
    ok &= c.matches("billing_country", _COUNTRY) & c.matches("shipping_country", _COUNTRY)
    ok &= _geo_ok(c, "latitude", "longitude")
    card, card_ok = _card_tokens(c, ctx)
    ok &= card_ok
    attributes, attributes_ok = _attributes(c)
    ok &= attributes_ok & _personal_ok(c)
    slow = _slow_rows(batch, position, ok, Transaction, ctx)
    rows = np.flatnonzero(ok)
    fast = batch.take(pa.array(rows)) if len(rows) < c.n else batch
    f = _Columns(fast)
    columns = TransactionColumns(
        index=rows,
        transaction_id=fast.column("transaction_id").to_pylist(),
        ts=ts[rows],
        amount_micro=micro[rows],
        currency=f.strings("currency"),  # type: ignore[arg-type]
        source=[s if s is not None else "unknown" for s in f.strings("source")],
        card=[card[i] for i in rows.tolist()],
        customer=f.strings("customer_id"),
        account=f.strings("account_id"),
        merchant=f.strings("merchant_id"),
        mcc=f.strings("merchant_mcc"),
        merchant_country=f.strings("merchant_country"),
        merchant_lat=f.floats("merchant_latitude"),
        merchant_lon=f.floats("merchant_longitude"),
        terminal=f.strings("terminal_id"),
        channel=f.strings("channel"),
        entry_mode=f.strings("entry_mode"),
        device=f.strings("device_id"),
        ip=f.strings("ip_address"),
        billing_country=f.strings("billing_country"),
        shipping_country=f.strings("shipping_country"),
        lat=f.floats("latitude"),
        lon=f.floats("longitude"),
        attributes=[attributes[i] for i in rows.tolist()],
    )
    return ColumnarBatch(c.n, transactions=columns, slow=slow)


def _amount_micro(column: pa.Array | None, n: int) -> npt.NDArray[np.int64]:
    """decimal128(·, 6) as its unscaled integer (millionths); -1 for null or beyond int64."""
    if column is None:
        return np.full(n, -1, dtype=np.int64)
    words = np.frombuffer(column.buffers()[1], dtype=np.int64)
    words = words[2 * column.offset : 2 * (column.offset + n)].reshape(n, 2)
    low, high = words[:, 0], words[:, 1]
    fits = (high == 0) & (low >= 0)
    valid = _np(column.is_valid())
    return np.where(fits & valid, low, -1)


_CARD = ("card_number", "card_token", "card_bin", "card_last4")
_MERCHANT = (
    "merchant_id",
    "merchant_name",
    "merchant_mcc",
    "merchant_country",
    "merchant_city",
    "merchant_latitude",
    "merchant_longitude",
)
_DEVICE = ("device_id", "device_type", "device_os", "device_user_agent", "device_fingerprint")


def _any_valid(c: _Columns, names: tuple[str, ...]) -> npt.NDArray[np.bool_]:
    out = np.zeros(c.n, dtype=np.bool_)
    for name in names:
        out |= c.valid(name)
    return out


def _card_ok(c: _Columns) -> npt.NDArray[np.bool_]:
    """No card, or a card with a token or number and a well-formed BIN and last four."""
    has_card = _any_valid(c, _CARD)
    identified = c.valid("card_number") | c.valid("card_token")
    formed = c.matches("card_bin", "^[0-9]{6,8}$") & c.matches("card_last4", "^[0-9]{4}$")
    return ~has_card | (identified & formed)


def _merchant_ok(c: _Columns) -> npt.NDArray[np.bool_]:
    checks = (
        c.length_ok("merchant_id")
        & c.matches("merchant_mcc", "^[0-9]{4}$")
        & c.matches("merchant_country", _COUNTRY)
        & _geo_ok(c, "merchant_latitude", "merchant_longitude")
    )
    return ~_any_valid(c, _MERCHANT) | checks


def _card_tokens(c: _Columns, ctx: IngestContext) -> tuple[Strings, npt.NDArray[np.bool_]]:
    """The card key of each row: the token of its number (once per distinct number), else its
    token; a number the tokenizer refuses sends the row to the per-row parser."""
    numbers, tokens = c.strings("card_number"), c.strings("card_token")
    ok = np.ones(c.n, dtype=np.bool_)
    by_number: dict[str, str | None] = {}
    out: Strings = []
    for at, (number, token) in enumerate(zip(numbers, tokens, strict=True)):
        if number is None:
            out.append(token)
            continue
        if number not in by_number:
            try:
                by_number[number] = ctx.tokenizer.card_from_number(number).token
            except RecordError:
                by_number[number] = None
        card = by_number[number]
        if card is None:
            ok[at] = False
        out.append(card)
    return out, ok


def _attributes(c: _Columns) -> tuple[list[dict[str, Any]], npt.NDArray[np.bool_]]:
    """Each row's attributes as `nest_transaction` builds them: the JSON object, then every
    column the layout does not know (non-null values), in column order."""
    extra = [name for name in c.batch.schema.names if name not in TRANSACTION_SCHEMA.names]
    texts = c.strings("attributes")
    extra_values = [c.get(name).to_pylist() for name in extra]  # type: ignore[union-attr]
    decoded: dict[str | None, dict[str, Any] | None] = {None: {}}
    ok = np.ones(c.n, dtype=np.bool_)
    out: list[dict[str, Any]] = []
    for at, text in enumerate(texts):
        if text not in decoded:
            decoded[text] = _attribute_object(text)
        base = decoded[text]
        if base is None:
            ok[at] = False
            out.append({})
            continue
        row = dict(base)
        for name, values in zip(extra, extra_values, strict=True):
            value = values[at]
            if value is not None:
                row[name] = value
        if not all(_attribute_value(v) for v in row.values()):
            ok[at] = False
        out.append(row)
    return out, ok


def _attribute_object(text: str | None) -> dict[str, Any] | None:
    """The decoded JSON object when every value is one an attribute may hold, else None."""
    try:
        value = json.loads(text) if text is not None else {}
    except ValueError:
        return None
    if not isinstance(value, dict) or not all(_attribute_value(v) for v in value.values()):
        return None
    return value


def _attribute_value(value: object) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return _INT64[0] <= value <= _INT64[1]
    return value is None or isinstance(value, str | float | bool)


def _personal_ok(c: _Columns) -> npt.NDArray[np.bool_]:
    """`personal`: null or a JSON object of strings (it is not read further here)."""
    texts = c.strings("personal")
    seen: dict[str | None, bool] = {None: True}
    out = np.ones(c.n, dtype=np.bool_)
    for at, text in enumerate(texts):
        if text not in seen:
            seen[text] = _string_object(text)
        out[at] = seen[text]
    return out


def _string_object(text: str | None) -> bool:
    try:
        value = json.loads(text) if text is not None else {}
    except ValueError:
        return False
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


# --- labels ------------------------------------------------------------------------------------


def _labels(batch: pa.RecordBatch, position: int, ctx: IngestContext) -> ColumnarBatch:
    c = _Columns(batch)
    ok = c.length_ok("transaction_id") & c.valid("is_fraud")
    ok &= c.valid("event_time") & c.valid("known_at")
    event, known = c.times("event_time"), c.times("known_at")
    for ts in (event, known):
        ok &= (ts >= _TIME_RANGE[0]) & (ts < _TIME_RANGE[1])
    ok &= known >= event
    ok &= c.one_of("source", [source.value for source in LabelSource])
    slow = _slow_rows(batch, position, ok, Label, ctx)
    rows = np.flatnonzero(ok)
    fast = batch.take(pa.array(rows)) if len(rows) < c.n else batch
    f = _Columns(fast)
    columns = LabelColumns(
        index=rows,
        transaction_id=fast.column("transaction_id").to_pylist(),
        known_at=known[rows],
        is_fraud=fast.column("is_fraud").to_pylist(),
        fraud_type=f.strings("fraud_type"),
    )
    return ColumnarBatch(c.n, labels=columns, slow=slow)
