"""The audit log as a hash chain: each entry carries the hash of the one before it.

    hash(n) = SHA-256(hash(n-1) ‖ canonical JSON of entry n: seq, at, actor, action, target,
              details)            with hash(0) = 64 zeros

Entries are numbered 1, 2, 3, … without gaps, and `audit_head` holds the last number and hash;
appending locks that row (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's write transaction
already admits one writer), so concurrent writers extend the chain one at a time. `verify` walks
the chain and names the first entry that was edited, inserted or deleted (a gap, a wrong
previous hash, a hash that does not match the content, or a head that disagrees with the end).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from fraudwatch.storage import tables as t

GENESIS = "0" * 64
CHUNK = 10_000


def entry_hash(previous: str, seq: int, at: datetime, actor: str, action: str, target: str,
               details: dict[str, Any] | None) -> str:  # fmt: skip
    body = json.dumps(
        {
            "seq": seq,
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "target": target,
            "details": details,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(previous.encode() + body.encode()).hexdigest()


@dataclass(frozen=True)
class Change:
    """One entry to append: who did what to which target."""

    actor: str
    action: str
    target: str
    details: dict[str, Any] | None = None


def append(
    conn: Connection, *, actor: str, action: str, target: str, details: dict[str, Any] | None
) -> int:
    """Add an entry inside the caller's transaction; returns its sequence number."""
    return append_many(conn, [Change(actor, action, target, details)])[-1]


def append_many(conn: Connection, changes: Sequence[Change]) -> list[int]:
    """Add entries in order inside the caller's transaction (the head is locked and moved
    once, the entries inserted in one statement); returns their sequence numbers."""
    if not changes:
        return []
    head = conn.execute(
        select(t.audit_head.c.seq, t.audit_head.c.hash)
        .where(t.audit_head.c.slot == 1)
        .with_for_update()
    ).first()
    seq, previous = (0, GENESIS) if head is None else (int(head.seq), str(head.hash))
    at = datetime.now(UTC)
    rows = []
    for change in changes:
        seq += 1
        actor = str(change.actor)
        digest = entry_hash(previous, seq, at, actor, change.action, change.target, change.details)
        rows.append(
            {"at": at, "actor": actor, "action": change.action, "target": change.target,
             "details": change.details, "seq": seq, "prev_hash": previous, "hash": digest}
        )  # fmt: skip
        previous = digest
    conn.execute(insert(t.audit_log), rows)
    if head is None:
        conn.execute(insert(t.audit_head).values(slot=1, seq=seq, hash=previous))
    else:
        conn.execute(
            update(t.audit_head).where(t.audit_head.c.slot == 1).values(seq=seq, hash=previous)
        )
    return list(range(seq - len(rows) + 1, seq + 1))


@dataclass(frozen=True)
class Verification:
    entries: int
    ok: bool
    bad_seq: int | None = None  # the first entry found wrong (or where one is missing)
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "ok": self.ok,
            "bad_seq": self.bad_seq,
            "problem": self.problem,
        }


def _entries(engine: Engine) -> Iterator[Any]:
    last = 0
    columns = t.audit_log.c
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                select(t.audit_log).where(columns.seq > last).order_by(columns.seq).limit(CHUNK)
            ).all()
        if not rows:
            return
        yield from rows
        last = int(rows[-1].seq)


def verify(engine: Engine) -> Verification:
    """Walk the whole chain; the first inconsistency found is reported."""
    previous, expected, count = GENESIS, 1, 0
    for row in _entries(engine):
        seq = int(row.seq)
        if seq != expected:
            return Verification(count, False, expected, f"entry {expected} is missing")
        if row.prev_hash != previous:
            problem = f"entry {seq} does not follow entry {seq - 1} (inserted or reordered)"
            return Verification(count, False, seq, problem)
        digest = entry_hash(previous, seq, row.at, row.actor, row.action, row.target, row.details)
        if digest != row.hash:
            return Verification(count, False, seq, f"entry {seq} was edited")
        previous, expected, count = row.hash, seq + 1, count + 1
    with engine.connect() as conn:
        head = conn.execute(select(t.audit_head).where(t.audit_head.c.slot == 1)).first()
    if head is not None and int(head.seq) < count:
        extra = int(head.seq) + 1
        return Verification(count, False, extra, f"entry {extra} was added outside the chain")
    if head is not None and (int(head.seq) != count or head.hash != previous):
        return Verification(count, False, count + 1, f"entries after {count} were deleted")
    if head is None and count:
        return Verification(count, False, 1, "the chain's head is missing")
    return Verification(count, True)
