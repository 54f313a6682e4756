"""Keeps the dashboard's hourly rollups up to date: tails new decisions and new labels by a
cursor stored in the database, off the scoring path (a background thread of the API process).

Idempotent and resumable: each projected decision gets a `dash_facts` row in the same write
transaction as its rollup increments and the cursor, so a restart (or a second API process)
never counts a decision twice. The tail follows `decided_at`; a decision whose write landed
after later-decided ones (batched writers) is caught by a sweep that re-reads the last
`lag_s` seconds before the cursor every `sweep_s` (labels likewise: a step reads the labels
newer than the label cursor, a sweep the `label_lag_s` before it too). A label is applied as the
difference between the decision's rollup contributions under its old and its new label.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import msgspec
from sqlalchemy import Connection, Engine, Float, Text, and_, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fraudwatch.analytics.aggregates import PROJECTOR_CHECKPOINT
from fraudwatch.analytics.decisions import labels_of
from fraudwatch.analytics.rollup import (
    UNLABELLED,
    Delta,
    Fact,
    LabelState,
    add,
    moment,
    new_delta,
)
from fraudwatch.analytics.rollup import relabel as relabel_delta
from fraudwatch.storage import tables as t
from fraudwatch.storage.types import sqlite_time
from fraudwatch.storage.writing import writing

log = logging.getLogger(__name__)
CHECKPOINT = PROJECTOR_CHECKPOINT
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ID_CHUNK = 500
MEASURES = {
    "dash_rollup": ("decisions", "amount", "labelled", "fraud", "fraud_amount"),
    "dash_scores": ("fraud", "genuine", "unlabelled"),
    "dash_rules": ("hits", "shadow_hits", "fraud_hits"),
    "dash_latency": ("decisions",),
}
_d, _x = t.decisions.c, t.transactions.c


class Cursor(msgspec.Struct):
    decided_at: datetime = EPOCH
    transaction_id: str = ""
    labels: datetime = EPOCH  # ingested_at of the newest label applied


def _facts_query() -> Any:
    return select(
        _d.transaction_id, _raw_time(_d.event_time), _raw_time(_d.decided_at), _d.outcome,
        _d.risk_score,
        _d.model_version, _raw_json(_d.rules_hit), _raw_json(_d.latency_ms),
        type_coerce(_x.amount, Float).label("amount"),  # a float: no Decimal per row
        _x.merchant_country,
        _x.billing_country, _x.merchant_mcc, _x.channel,
    ).select_from(
        t.decisions.outerjoin(
            t.transactions,
            and_(_x.transaction_id == _d.transaction_id, _x.event_time == _d.event_time),
        )
    )  # fmt: skip


def _raw_time(column: Any) -> Any:
    """A time column read as the driver gives it (SQLite: text, parsed by `moment`, several
    times faster than SQLAlchemy's per-row processing; PostgreSQL: a datetime already)."""
    return type_coerce(column, Text).label(column.name)


def _raw_json(column: Any) -> Any:
    """A JSON column as the driver gives it (SQLite: text, decoded by `Fact.from_row` with a
    typed decoder, without SQLAlchemy's per-row processing; PostgreSQL: a dict already)."""
    return type_coerce(column, Text).label(column.name)


def _insert(conn: Connection) -> Any:
    return postgres_insert if conn.dialect.name == "postgresql" else sqlite_insert


class Projector:
    """`start()` a thread that keeps the rollups current; `run_once()` does one step."""

    def __init__(
        self,
        engine: Engine,
        *,
        page: int = 2_000,  # one write transaction each: short, scoring's writer never waits long
        poll_s: float = 0.5,
        sweep_s: float = 10.0,
        lag_s: float = 15.0,
        label_lag_s: float = 60.0,
    ) -> None:
        self._engine = engine
        self._page = page
        self._poll_s = poll_s
        self._sweep_s = sweep_s
        self._lag = timedelta(seconds=lag_s)
        self._label_lag = timedelta(seconds=label_lag_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._swept = 0.0
        self.projected = 0  # decisions counted by this process
        self.caught_up = threading.Event()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dashboard-projector", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def stopping(self) -> threading.Event:
        return self._stop

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # keep the dashboard alive; the next step retries from the cursor
                log.exception("dashboard projector step failed; retrying")
                busy = 0
            if busy == 0:
                self.caught_up.set()
            if busy < self._page:  # caught up (less than a full page): let a page gather, so
                self._stop.wait(self._poll_s)  # each write transaction carries many decisions

    def catch_up(self) -> int:
        """Project everything stored now; the number of decisions and labels applied."""
        total = 0
        while (done := self.run_once()) > 0:
            total += done
        return total

    # -- one step -----------------------------------------------------------------------------

    def cursor(self) -> Cursor:
        with self._engine.connect() as conn:
            value = conn.execute(
                select(t.checkpoints.c.value).where(t.checkpoints.c.key == CHECKPOINT)
            ).scalar()
        return Cursor() if value is None else msgspec.json.decode(value, type=Cursor)

    def run_once(self) -> int:
        """Project one page of new decisions, then new labels; how many rows changed."""
        cursor = self.cursor()
        done = self._decisions(cursor)
        sweeping = time.monotonic() - self._swept >= self._sweep_s
        done += self._labels(self.cursor(), again=sweeping)
        if sweeping:
            self._swept = time.monotonic()
            done += self._sweep(self.cursor())
        return done

    def _page_after(self, at: datetime, tid: str, until: datetime | None) -> list[Any]:
        query = _facts_query().where(
            _d.decided_at >= at,
            or_(_d.decided_at > at, and_(_d.decided_at == at, _d.transaction_id > tid)),
        )
        if until is not None:
            query = query.where(_d.decided_at <= until)
        query = query.order_by(_d.decided_at, _d.transaction_id).limit(self._page)
        with self._engine.connect() as conn:
            return list(conn.execute(query).all())

    def _decisions(self, cursor: Cursor) -> int:
        rows = self._page_after(cursor.decided_at, cursor.transaction_id, None)
        if not rows:
            return 0
        last = rows[-1]
        moved = msgspec.structs.replace(
            cursor, decided_at=moment(last.decided_at), transaction_id=last.transaction_id
        )
        return self._project(rows, moved)

    def _sweep(self, cursor: Cursor) -> int:
        """Decisions decided shortly before the cursor but written after it moved past: an
        index-only scan of the last `lag_s` anti-joined with the facts, rows read only for
        what is missing."""
        if cursor.decided_at == EPOCH:
            return 0
        facts = t.dash_facts.c
        missing = (
            select(_d.transaction_id)
            .where(
                _d.decided_at > cursor.decided_at - self._lag,
                _d.decided_at <= cursor.decided_at,
                ~select(facts.transaction_id)
                .where(facts.transaction_id == _d.transaction_id)
                .exists(),
            )
            .limit(self._page)
        )
        with self._engine.connect() as conn:
            ids = list(conn.execute(missing).scalars())
            rows = _rows_of(conn, ids)
        return self._project(rows, None) if rows else 0

    def _project(self, rows: Sequence[Any], cursor: Cursor | None) -> int:
        """Count the decisions of `rows` not counted yet, and move the cursor, atomically."""
        with self._engine.connect() as conn:
            labels = labels_of(conn, [row.transaction_id for row in rows])
        facts = [Fact.from_row(row) for row in rows]
        with writing(self._engine) as conn:
            fresh = self._claim(conn, facts, labels)
            delta = new_delta()
            for fact in facts:
                if fact.transaction_id in fresh:
                    add(delta, fact, _state(labels.get(fact.transaction_id)))
            _apply(conn, delta)
            if cursor is not None:
                _save(conn, cursor)
        self.projected += len(fresh)
        return len(fresh) if cursor is None else max(1, len(fresh))

    def _claim(self, conn: Connection, facts: Sequence[Fact], labels: dict[str, Any]) -> set[str]:
        """Insert a facts row for each decision not projected yet; their ids."""
        if conn.dialect.name == "sqlite":
            return _claim_sqlite(conn, facts, labels)
        values = []
        for fact in facts:
            state = _state(labels.get(fact.transaction_id))
            values.append(
                {
                    "transaction_id": fact.transaction_id,
                    "event_time": fact.event_time,
                    "is_fraud": state.is_fraud,
                    "fraud_type": state.fraud_type,
                }
            )
        statement = (
            _insert(conn)(t.dash_facts)
            .on_conflict_do_nothing(index_elements=["transaction_id"])
            .returning(t.dash_facts.c.transaction_id)
        )
        return set(conn.execute(statement, values).scalars().all())

    def _labels(self, cursor: Cursor, *, again: bool) -> int:
        """Apply labels stored after the label cursor; `again` (at each sweep) re-reads the
        `label_lag_s` before it too, for labels whose write landed after later ones. Between
        sweeps a step reads only what is newer than the cursor: nothing, mostly."""
        labels_at = t.labels.c.ingested_at
        if cursor.labels == EPOCH:
            newer = labels_at >= EPOCH
        elif again:
            newer = labels_at >= cursor.labels - self._label_lag
        else:
            newer = labels_at > cursor.labels
        with self._engine.connect() as conn:
            recent = conn.execute(
                select(t.labels.c.transaction_id, t.labels.c.ingested_at).where(newer)
            ).all()
            if not recent:
                return 0
            newest = max(row.ingested_at for row in recent)
            ids = list(dict.fromkeys(row.transaction_id for row in recent))
            labels = labels_of(conn, ids)
            counted = _facts_of(conn, ids)
            changed = [tid for tid, state in counted.items() if state != _state(labels.get(tid))]
            rows = _rows_of(conn, changed)
        with writing(self._engine) as conn:
            counted = _facts_of(conn, changed)  # again, under the write lock
            delta = new_delta()
            for row in rows:
                tid = row.transaction_id
                new = _state(labels.get(tid))
                if tid in counted and counted[tid] != new:
                    relabel_delta(delta, Fact.from_row(row), counted[tid], new)
                    conn.execute(
                        t.dash_facts.update()
                        .where(t.dash_facts.c.transaction_id == tid)
                        .values(is_fraud=new.is_fraud, fraud_type=new.fraud_type)
                    )
            _apply(conn, delta)
            moved = max(newest, cursor.labels)
            if moved != cursor.labels:
                _save(conn, msgspec.structs.replace(self.cursor_in(conn), labels=moved))
        return len(rows) + (1 if moved != cursor.labels else 0)

    @staticmethod
    def cursor_in(conn: Connection) -> Cursor:
        value = conn.execute(
            select(t.checkpoints.c.value).where(t.checkpoints.c.key == CHECKPOINT)
        ).scalar()
        return Cursor() if value is None else msgspec.json.decode(value, type=Cursor)


def _claim_sqlite(conn: Connection, facts: Sequence[Fact], labels: dict[str, Any]) -> set[str]:
    """`_claim` on SQLite, on the driver's connection inside the same write transaction: the
    ids already there (primary-key lookups), then one `executemany` of the others, times in
    SQLAlchemy's storage format (no per-row processing by SQLAlchemy: most of the cost)."""
    raw = cast(sqlite3.Connection, conn.connection.driver_connection)
    ids = list(dict.fromkeys(fact.transaction_id for fact in facts))
    known: set[str] = set()
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        marks = ", ".join("?" * len(chunk))
        query = f"SELECT transaction_id FROM dash_facts WHERE transaction_id IN ({marks})"
        known.update(tid for (tid,) in raw.execute(query, chunk))
    fresh: dict[str, Fact] = {}
    for fact in facts:
        if fact.transaction_id not in known and fact.transaction_id not in fresh:
            fresh[fact.transaction_id] = fact
    rows = []
    for tid, fact in fresh.items():
        state = _state(labels.get(tid))
        rows.append((tid, sqlite_time(fact.event_time), state.is_fraud, state.fraud_type))
    raw.executemany(
        "INSERT INTO dash_facts (transaction_id, event_time, is_fraud, fraud_type) "
        "VALUES (?, ?, ?, ?)",
        rows,
    )
    return set(fresh)


def _state(label: Any) -> LabelState:
    if label is None:
        return UNLABELLED
    return LabelState(bool(label.is_fraud), label.fraud_type if label.is_fraud else None)


def _facts_of(conn: Connection, ids: Sequence[str]) -> dict[str, LabelState]:
    c = t.dash_facts.c
    found: dict[str, LabelState] = {}
    for start in range(0, len(ids), ID_CHUNK):
        chunk = list(ids[start : start + ID_CHUNK])
        for tid, is_fraud, fraud_type in conn.execute(
            select(c.transaction_id, c.is_fraud, c.fraud_type).where(c.transaction_id.in_(chunk))
        ):
            found[tid] = LabelState(None if is_fraud is None else bool(is_fraud), fraud_type)
    return found


def _rows_of(conn: Connection, ids: Sequence[str]) -> list[Any]:
    rows: list[Any] = []
    for start in range(0, len(ids), ID_CHUNK):
        chunk = list(ids[start : start + ID_CHUNK])
        rows.extend(
            conn.execute(_facts_query().where(t.decisions_of(chunk, conn.dialect.name))).all()
        )
    return rows


def _apply(conn: Connection, delta: Delta) -> None:
    """Add the delta to the rollup tables (upserts; rows that net to zero are skipped)."""
    by_table: dict[str, list[dict[str, Any]]] = {name: [] for name in MEASURES}
    for (name, key), values in delta.items():
        if not any(values):
            continue
        table = t.metadata.tables[name]
        keys = [c.name for c in table.primary_key.columns]
        row = dict(zip(keys, key, strict=True))
        row.update(zip(MEASURES[name], values, strict=True))
        by_table[name].append(row)
    for name, rows in by_table.items():
        if not rows:
            continue
        table = t.metadata.tables[name]
        names = [c.name for c in table.primary_key.columns]
        rows.sort(key=lambda r: tuple(r[name] for name in names))  # one lock order on PostgreSQL
        statement = _insert(conn)(table)
        statement = statement.on_conflict_do_update(
            index_elements=[c.name for c in table.primary_key.columns],
            set_={m: table.c[m] + statement.excluded[m] for m in MEASURES[name]},
        )
        conn.execute(statement, rows)


def _save(conn: Connection, cursor: Cursor) -> None:
    statement = _insert(conn)(t.checkpoints)
    statement = statement.on_conflict_do_update(
        index_elements=["key"],
        set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
    )
    conn.execute(
        statement,
        {
            "key": CHECKPOINT,
            "value": msgspec.json.encode(cursor).decode(),
            "updated_at": datetime.now(UTC),
        },
    )
