"""`sql`: a payments table in any SQLAlchemy database, read incrementally by a watermark column.

Location is a SQLAlchemy URL (`sqlite:///bank.db`, `postgresql+psycopg://user@host/db`). Options:
`table` (required; `schema.table` or option `schema`), `watermark` (required: a column that only
grows, such as an insert sequence or a commit timestamp), `batch_size` (default 1000), `mapping`
(YAML/JSON `{canonical_field: column}`; by default a column named like a flat canonical field
maps to it and the others go to `attributes`), `timezone` (for naive timestamps; default UTC).

Rows are read in watermark order, by keyset pagination over `(watermark, primary key)`:

    SELECT * FROM t WHERE wm IS NOT NULL AND wm >= :wm AND (wm > :wm OR pk > :pk)
    ORDER BY wm, pk LIMIT :batch

The primary key (else the `transaction_id` column) breaks ties, so rows sharing one watermark
value are neither skipped nor repeated across batch boundaries. Every record carries the
checkpoint `(sql:<table>:<watermark>, [wm, pk...])`; the pipeline saves it only after the record's
batch is durably stored and passes it back in `IngestContext.checkpoints`, so a run resumes just
after the last stored row. Delivery is at-least-once: a crash between storing and saving replays
rows, which the pipeline recognises as duplicates by id + content hash. A row committed later with
a watermark at or below the checkpoint (a long transaction stamping an earlier time) is not read
by later runs: pick a watermark assigned in commit order. Rows with a NULL watermark cannot be
ordered and are not read; their count is logged as a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Engine, Row

from fraudwatch.errors import ConfigError, FraudwatchError
from fraudwatch.events.formats.base import IngestContext, Parsed, register_format
from fraudwatch.events.formats.flatfields import (
    FLAT_FIELDS,
    FlatTransactionBuilder,
    attribute_value,
    load_mapping,
    zone_option,
)
from fraudwatch.events.formats.records import record_error, renamed
from fraudwatch.security.masking import redact

NAME = "sql"
DEFAULT_BATCH = 1000
logger = logging.getLogger(__name__)
_json = msgspec.json.Encoder(enc_hook=str)


class WatermarkCursor:
    """The ordered key columns of a table and how to encode a position among them."""

    def __init__(self, table: sa.Table, watermark: str, tiebreak: Sequence[str]) -> None:
        self.table = table
        self.columns = [table.c[watermark], *(table.c[name] for name in tiebreak)]
        self.key = f"sql:{table.fullname}:{watermark}"

    def encode(self, row: Row[Any]) -> str:
        """The checkpoint value of `row`: its key columns as a JSON list."""
        return _json.encode([row._mapping[column.name] for column in self.columns]).decode()

    def decode(self, text: str) -> list[Any]:
        """A saved checkpoint back as values of the key columns' Python types."""
        try:
            values = msgspec.json.decode(text)
            if not isinstance(values, list) or len(values) != len(self.columns):
                raise ValueError("expected one value per key column")
            return [
                _typed(value, column) for value, column in zip(values, self.columns, strict=True)
            ]
        except (ValueError, msgspec.ValidationError) as exc:
            raise ConfigError(f"checkpoint {self.key} = {text!r} is unusable: {exc}") from exc

    def after(self, last: Sequence[Any] | None) -> sa.ColumnElement[bool]:
        """Rows strictly after the position `last` (all rows with a watermark when None)."""
        first = self.columns[0]
        condition: sa.ColumnElement[bool] = first.is_not(None)
        if last is None:
            return condition
        later = [
            sa.and_(*(c == v for c, v in zip(self.columns[:i], last, strict=False)), c_i > last[i])
            for i, c_i in enumerate(self.columns)
        ]
        return sa.and_(condition, first >= last[0], sa.or_(*later))


def _typed(value: Any, column: sa.Column[Any]) -> Any:
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return value
    return msgspec.convert(value, python_type, strict=False)


def _reflect(engine: Engine, ctx: IngestContext) -> tuple[sa.Table, WatermarkCursor]:
    name = ctx.options.get("table")
    watermark = ctx.options.get("watermark")
    if not name or not watermark:
        raise ConfigError("format sql needs the options table and watermark")
    schema = ctx.options.get("schema")
    if schema is None and "." in name:
        schema, name = name.split(".", 1)
    try:
        table = sa.Table(name, sa.MetaData(), schema=schema, autoload_with=engine)
    except sa.exc.NoSuchTableError as exc:
        raise ConfigError(f"no table {name!r} in {_safe_url(engine)}") from exc
    if watermark not in table.c:
        raise ConfigError(f"table {name} has no watermark column {watermark!r}")
    return table, WatermarkCursor(table, watermark, _tiebreak(table, watermark))


def _tiebreak(table: sa.Table, watermark: str) -> list[str]:
    """Columns that make `(watermark, ...)` unique: the primary key, else transaction_id."""
    keys = [column.name for column in table.primary_key.columns if column.name != watermark]
    if keys or [c.name for c in table.primary_key.columns] == [watermark]:
        return keys
    if "transaction_id" in table.c:
        return ["transaction_id"]
    raise ConfigError(
        f"table {table.name} has no primary key or transaction_id column to order rows that "
        "share a watermark value"
    )


def _safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


class RowMapper:
    """One row -> one `Parsed`, by the `{canonical: column}` mapping."""

    def __init__(self, mapping: Mapping[str, str], builder: FlatTransactionBuilder) -> None:
        self._mapping = dict(mapping)
        self._mapped = frozenset(mapping.values())
        self._builder = builder
        self._names = {field: column for field, column in mapping.items() if field != column}
        if "merchant_id" in self._names:
            self._names["merchant.id"] = self._names["merchant_id"]

    def parse(self, position: int, row: Mapping[Any, Any], checkpoint: tuple[str, str]) -> Parsed:
        raw = _json.encode(dict(row)).decode()
        try:
            values = {field: row[column] for field, column in self._mapping.items()}
            extra = {
                column: attribute_value(value)
                for column, value in row.items()
                if column not in self._mapped
            }
            tx = self._builder.build(values, attributes=extra)
        except Exception as exc:  # a bad record never ends the run
            error = renamed(record_error(exc), self._names)
            return Parsed(position, raw, error=error, checkpoint=checkpoint)
        return Parsed(position, raw, events=(tx,), checkpoint=checkpoint)


def _mapping(table: sa.Table, ctx: IngestContext) -> dict[str, str]:
    default = {column.name: column.name for column in table.c if column.name in FLAT_FIELDS}
    mapping = load_mapping(ctx.options.get("mapping"), default)
    missing = sorted(column for column in mapping.values() if column not in table.c)
    if missing:
        raise ConfigError(f"table {table.name} has no column(s) {', '.join(missing)}")
    return mapping


def _batch_size(ctx: IngestContext) -> int:
    text = ctx.option("batch_size", str(DEFAULT_BATCH))
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"option batch_size must be a positive integer, got {text!r}")
    return int(text)


@register_format
class SqlTable:
    """Reads new rows of a SQL table since the last checkpoint, in watermark order."""

    name: ClassVar[str] = NAME
    summary: ClassVar[str] = "a SQL table (SQLAlchemy URL), incrementally by a watermark column"

    def read(self, location: str, ctx: IngestContext) -> Iterator[Parsed]:
        try:
            engine = sa.create_engine(location)
        except sa.exc.ArgumentError as exc:
            raise ConfigError(
                f"{redact(location)!r} is not a SQLAlchemy database URL: {exc}"
            ) from exc
        try:
            yield from self._read(engine, ctx)
        except sa.exc.SQLAlchemyError as exc:
            raise FraudwatchError(f"reading {_safe_url(engine)} failed: {exc}") from exc
        finally:
            engine.dispose()

    def _read(self, engine: Engine, ctx: IngestContext) -> Iterator[Parsed]:
        table, cursor = _reflect(engine, ctx)
        builder = FlatTransactionBuilder(ctx, default_source=NAME, zone=zone_option(ctx, "UTC"))
        mapper = RowMapper(_mapping(table, ctx), builder)
        batch = _batch_size(ctx)
        saved = ctx.checkpoints.get(cursor.key)
        last = cursor.decode(saved) if saved is not None else None
        total = _count(engine, cursor, last)
        done = 0
        while True:
            rows = _fetch(engine, cursor, last, batch)
            for row in rows:
                done += 1
                yield mapper.parse(done, row._mapping, (cursor.key, cursor.encode(row)))
            ctx.progress(done, max(total, done))
            if len(rows) < batch:
                return
            last = [rows[-1]._mapping[column.name] for column in cursor.columns]


def _fetch(
    engine: Engine, cursor: WatermarkCursor, last: Sequence[Any] | None, batch: int
) -> Sequence[Row[Any]]:
    """One page of rows, read on a short-lived connection so no lock outlives the query."""
    query = sa.select(cursor.table).where(cursor.after(last)).order_by(*cursor.columns).limit(batch)
    with engine.connect() as connection:
        return connection.execute(query).all()


def _count(engine: Engine, cursor: WatermarkCursor, last: Sequence[Any] | None) -> int:
    """Rows still to read (for progress), warning about rows no watermark can reach."""
    watermark = cursor.columns[0]
    pending = sa.select(sa.func.count()).select_from(cursor.table).where(cursor.after(last))
    unreachable = sa.select(sa.func.count()).select_from(cursor.table).where(watermark.is_(None))
    with engine.connect() as connection:
        total = int(connection.execute(pending).scalar_one())
        nulls = int(connection.execute(unreachable).scalar_one())
    if nulls:
        logger.warning(
            "%d row(s) of %s have a NULL %s and are not read", nulls, cursor.table, watermark.name
        )
    return total
