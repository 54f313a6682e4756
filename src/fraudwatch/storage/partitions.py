"""Monthly RANGE partitions of the PostgreSQL tables, created ahead and on demand.

Partitions are created for the current month plus `months_ahead` (at migration and on a store's
first write) and, before each write, for every month the batch touches, so a historical dataset
from 2013 lands in `transactions_p2013_09` rather than in the DEFAULT partition. Which partitions
exist is cached per store; creation runs in its own short transaction under an advisory lock, so
concurrent writers do not race and the write transaction never holds DDL locks on a parent table.

If rows for a month did reach the DEFAULT partition (a write outside the store), they are moved
into the new month's partition when it is created, since PostgreSQL refuses to add a partition
whose range overlaps rows in the DEFAULT one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text

from fraudwatch.storage.tables import PARTITIONED

logger = logging.getLogger(__name__)

Month = tuple[int, int]
_LOCK_KEY = 0x46574D50  # "FWMP": one advisory lock for partition maintenance
_NAME = re.compile(r"^(?P<table>[a-z_]+)_p(?P<year>\d{4})_(?P<month>\d{2})$")


def month_of(moment: datetime) -> Month:
    utc = moment.astimezone(UTC)
    return utc.year, utc.month


def add_months(month: Month, count: int) -> Month:
    index = month[0] * 12 + (month[1] - 1) + count
    return index // 12, index % 12 + 1


def partition_name(table: str, month: Month) -> str:
    return f"{table}_p{month[0]:04d}_{month[1]:02d}"


def _bound(month: Month) -> str:
    return f"'{month[0]:04d}-{month[1]:02d}-01 00:00:00+00'"


class PartitionManager:
    """Knows which monthly partitions exist and creates the missing ones."""

    def __init__(self, engine: Engine, *, months_ahead: int) -> None:
        self._engine = engine
        self._months_ahead = months_ahead
        self._known: set[tuple[str, Month]] | None = None

    def months_ahead_of(self, now: datetime) -> list[Month]:
        first = month_of(now)
        return [add_months(first, i) for i in range(self._months_ahead + 1)]

    def ensure_ahead(self, now: datetime | None = None) -> list[str]:
        """Create the partitions of the current month and `months_ahead` months after it."""
        months = self.months_ahead_of(now or datetime.now(UTC))
        return self.ensure({table: months for table in PARTITIONED})

    def ensure(self, wanted: Mapping[str, Iterable[Month]]) -> list[str]:
        """Create every missing partition among `wanted` (table -> months); return their names."""
        if self._known is None:
            with self._engine.connect() as conn:
                self._known = self._existing(conn)
        missing = sorted(
            {(table, month) for table, months in wanted.items() for month in months} - self._known
        )
        if not missing:
            return []
        created: list[str] = []
        with self._engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            existing = self._existing(conn)
            for table, month in missing:
                if (table, month) not in existing:
                    self._create(conn, table, month)
                    created.append(partition_name(table, month))
        self._known = existing | set(missing)
        if created:
            logger.info("created partitions %s", ", ".join(created))
        return created

    def forget(self) -> None:
        """Drop the cache (e.g. after partitions were dropped by hand)."""
        self._known = None

    @staticmethod
    def _existing(conn: Connection) -> set[tuple[str, Month]]:
        rows = conn.execute(
            text(
                "SELECT child.relname FROM pg_inherits i "
                "JOIN pg_class parent ON parent.oid = i.inhparent "
                "JOIN pg_class child ON child.oid = i.inhrelid "
                "JOIN pg_namespace ns ON ns.oid = parent.relnamespace "
                "WHERE ns.nspname = current_schema() AND parent.relname = ANY(:tables)"
            ),
            {"tables": list(PARTITIONED)},
        )
        found: set[tuple[str, Month]] = set()
        for (name,) in rows:
            match = _NAME.match(name)
            if match and match["table"] in PARTITIONED:
                found.add((match["table"], (int(match["year"]), int(match["month"]))))
        return found

    @staticmethod
    def _create(conn: Connection, table: str, month: Month) -> None:
        name, key = partition_name(table, month), PARTITIONED[table]
        low, high = _bound(month), _bound(add_months(month, 1))
        # Bounds are literals built from integers: DDL takes no parameters.
        in_range = f"{key} >= {low} AND {key} < {high}"
        stray = conn.exec_driver_sql(
            f"SELECT EXISTS (SELECT 1 FROM {table}_default WHERE {in_range})"
        ).scalar_one()
        bounds = f"FOR VALUES FROM ({low}) TO ({high})"
        if not stray:
            conn.exec_driver_sql(f"CREATE TABLE {name} PARTITION OF {table} {bounds}")
            return
        logger.warning("moving rows of %s from %s_default into %s", table, table, name)
        conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS)")
        conn.exec_driver_sql(
            f"WITH moved AS (DELETE FROM {table}_default WHERE {in_range} RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved"
        )
        conn.exec_driver_sql(f"ALTER TABLE {table} ATTACH PARTITION {name} {bounds}")
