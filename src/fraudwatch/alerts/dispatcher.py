"""Routing decisions to alerts, and delivering the outbox.

`AlertRouter.alerts(tx, decision)` gives the alerts a decision raises; the decision writer stores
them in the outbox in the same database transaction as the decision (so an alert exists exactly
when its decision does). `AlertDispatcher` delivers the outbox: it claims due alerts (marking them
`sending` with a lease, so a crashed dispatcher's claims are retried), sends each through its
channel, logs every attempt in `alert_deliveries`, and marks the alert `sent` or schedules the
next attempt with exponential backoff — after `max_attempts` it is `failed`, still listed. A
channel that is down only delays its alerts; none is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, func, insert, select, update

from fraudwatch.alerts.channels import Channel, DeliveryError, make_channel
from fraudwatch.alerts.config import ChannelConfig, Route
from fraudwatch.alerts.model import Alert, payload
from fraudwatch.decisions.model import Decision
from fraudwatch.events.model import Transaction
from fraudwatch.storage import tables as t
from fraudwatch.storage.writing import writing

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=2)


class AlertRouter:
    def __init__(self, routes: list[Route], channels: Mapping[str, object]) -> None:
        unknown = sorted({c for r in routes for c in r.channels} - set(channels))
        if unknown:
            raise ValueError(f"alert routes name unknown channels: {', '.join(unknown)}")
        self.routes = routes

    def alerts(self, tx: Transaction | None, decision: Decision) -> list[Alert]:
        out: dict[str, Alert] = {}
        fired = set(decision.rules_hit)
        for route in self.routes:
            if decision.outcome.value not in route.outcomes:
                continue
            if decision.risk_score < route.min_risk:
                continue
            if route.min_amount is not None and (tx is None or tx.amount < route.min_amount):
                continue
            if route.rules and not fired.intersection(route.rules):
                continue
            data = payload(tx, decision)
            for channel in route.channels:
                key = f"{decision.transaction_id}:{channel}"
                out.setdefault(
                    key,
                    Alert(
                        alert_key=key, channel=channel, route=route.name,
                        transaction_id=decision.transaction_id, created_at=decision.decided_at,
                        payload=data,
                    ),
                )  # fmt: skip
        return list(out.values())


@dataclass
class DispatchStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0


class AlertDispatcher:
    def __init__(
        self,
        engine: Engine,
        channels: Mapping[str, ChannelConfig],
        *,
        max_attempts: int = 12,
        base_delay_s: float = 1.0,
        max_delay_s: float = 300.0,
        batch: int = 100,
        client: httpx.Client | None = None,
    ) -> None:
        self._engine = engine
        self._client = client or httpx.Client(timeout=10.0)
        self._channels: dict[str, Channel] = {
            name: make_channel(config, self._client) for name, config in channels.items()
        }
        self._max_attempts = max_attempts
        self._base = base_delay_s
        self._max = max_delay_s
        self._batch = batch
        self.stats = DispatchStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _claim(self, now: datetime) -> list[Any]:
        o = t.alert_outbox.c
        due = ((o.status == "pending") & (o.next_attempt_at <= now)) | (
            (o.status == "sending") & (o.next_attempt_at <= now)
        )  # an expired lease
        with writing(self._engine) as conn:
            query = select(t.alert_outbox).where(due).order_by(o.id).limit(self._batch)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list(conn.execute(query).all())
            if rows:
                conn.execute(
                    update(t.alert_outbox)
                    .where(o.id.in_([r.id for r in rows]))
                    .values(status="sending", next_attempt_at=now + LEASE)
                )
        return rows

    def run_once(self, now: datetime | None = None) -> int:
        """Deliver what is due; returns the number of attempts made."""
        rows = self._claim(now or datetime.now(UTC))
        for row in rows:
            self._deliver(row)
        return len(rows)

    def _deliver(self, row: Any) -> None:
        attempt = int(row.attempts) + 1
        channel = self._channels.get(row.channel)
        started = time.perf_counter()
        ok, retry, detail = False, False, ""
        if channel is None:
            detail = f"no channel named {row.channel!r} is configured"
            retry = True  # it may be configured later
        else:
            try:
                detail = channel.send(row.alert_key, dict(row.payload))
                ok = True
            except DeliveryError as exc:
                detail, retry = exc.message, exc.retry
            except Exception as exc:  # a channel bug must not stop the others
                detail, retry = f"{type(exc).__name__}: {exc}", True
                log.exception("alert channel %s failed", row.channel)
        latency = (time.perf_counter() - started) * 1000
        now = datetime.now(UTC)
        values: dict[str, Any] = {"attempts": attempt}
        if ok:
            values |= {"status": "sent", "sent_at": now, "last_error": None}
            self.stats.sent += 1
        elif retry and attempt < self._max_attempts:
            delay = min(self._max, self._base * 2 ** (attempt - 1))
            values |= {"status": "pending", "next_attempt_at": now + timedelta(seconds=delay)}
            values["last_error"] = detail
            self.stats.retried += 1
        else:
            values |= {"status": "failed", "last_error": detail}
            self.stats.failed += 1
        with writing(self._engine) as conn:
            conn.execute(
                insert(t.alert_deliveries).values(
                    outbox_id=row.id,
                    attempt=attempt,
                    at=now,
                    ok=ok,
                    detail=detail[:1000],
                    latency_ms=round(latency, 2),
                )
            )
            conn.execute(
                update(t.alert_outbox).where(t.alert_outbox.c.id == row.id).values(**values)
            )

    def counts(self) -> dict[str, int]:
        o = t.alert_outbox.c
        with self._engine.connect() as conn:
            rows = conn.execute(select(o.status, func.count()).group_by(o.status))
            return {status: int(n) for status, n in rows}

    def start(self, interval_s: float = 0.5) -> None:
        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    while self.run_once():
                        pass
                except Exception:  # the database may be briefly unavailable: try again later
                    log.exception("alert dispatch failed")

        self._thread = threading.Thread(target=loop, name="alert-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._client.close()
