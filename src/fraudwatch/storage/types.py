"""Column types that mean the same on SQLite and PostgreSQL.

SQLite has no time zones, no exact decimals and no JSON type; these decorators make both
databases store and return the same Python values: aware UTC datetimes, `Decimal` amounts with
six decimal places, JSON documents. The bulk writers bypass SQLAlchemy's per-value processing
for speed, so they use `sqlite_time` / `MONEY_QUANTUM` to produce exactly what these types would.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Numeric
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

MONEY_SCALE = 6
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)


def quantize_money(value: Decimal) -> Decimal:
    """An amount as the NUMERIC(20, 6) column keeps it (sub-micro units are rounded half-even)."""
    return value.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)


def sqlite_time(value: datetime) -> str:
    """A UTC datetime in SQLAlchemy's SQLite storage format, which sorts as text in time order."""
    if value.tzinfo is UTC:  # canonical events are UTC already: the fast, C-level path
        return value.isoformat(" ", "microseconds")[:26]
    utc = value.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d} "
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond:06d}"
    )


class UtcDateTime(TypeDecorator[datetime]):
    """`timestamptz` on PostgreSQL, UTC text on SQLite; always returns aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware (UTC) datetime")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """NUMERIC(20, 6); SQLite keeps it as REAL (15 significant digits), returned as `Decimal`."""

    impl = Numeric(20, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            # Read floats and convert here: SQLAlchemy's own Decimal-from-float path warns.
            return dialect.type_descriptor(Numeric(20, MONEY_SCALE, asdecimal=False))
        return dialect.type_descriptor(Numeric(20, MONEY_SCALE))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        quantized = quantize_money(value)
        return str(quantized) if dialect.name == "sqlite" else quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            return quantize_money(value)
        return quantize_money(Decimal(repr(float(value))))


def json_type() -> TypeEngine[Any]:
    """JSON text on SQLite, JSONB on PostgreSQL (indexable, compact)."""
    return JSON().with_variant(JSONB(), "postgresql")
