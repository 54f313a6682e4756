"""Customer verification for `step_up` decisions: a one-time code by SMS or email, or a passkey.

The merchant's checkout or the bank's app asks for a challenge for a stepped-up transaction;
fraudwatch sends a 6-digit code through the configured SMS or email channel (the alert
channels' providers) and keeps only its keyed hash — or, for a customer who registered a
passkey with the bank's app, answers WebAuthn options the customer's device signs. The right
code or a valid assertion turns the decision into `approve`; five wrong answers, or none within
`TTL`, turn it into `block`. Asking again replaces the code (or the options) but keeps the
count of wrong answers. Both outcomes become labels (`source: step_up`): a passed challenge is
evidence the transaction is genuine, a failed one that it is not.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from fraudwatch.alerts.channels import DeliveryError, send_text
from fraudwatch.alerts.config import ChannelConfig
from fraudwatch.decisions.model import Decision, Outcome
from fraudwatch.errors import FraudwatchError, NotFoundError
from fraudwatch.events.model import Label, LabelSource
from fraudwatch.storage import tables as t
from fraudwatch.storage.writing import writing
from fraudwatch.users.passkeys import PasskeyError, Passkeys

TTL = timedelta(minutes=5)
MAX_ATTEMPTS = 5


class Method(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    PASSKEY = "passkey"


class ChallengeError(FraudwatchError):
    code = "invalid_change"


@dataclass(frozen=True)
class Result:
    status: str  # pending (wrong code, attempts left), passed, failed, expired
    final_outcome: Outcome | None
    attempts_left: int
    label: Label | None


class StepUp:
    def __init__(
        self,
        engine: Engine,
        key: bytes,
        channels: dict[Method, ChannelConfig],
        passkeys: Passkeys | None = None,
    ) -> None:
        self._engine = engine
        self._key = key
        self._channels = channels
        self.passkeys = passkeys or Passkeys(engine)

    def _hash(self, transaction_id: str, code: str) -> str:
        message = f"{transaction_id}\x00{code}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _open(
        self, conn: Connection, decision: Decision, method: Method, code_hash: str
    ) -> datetime:
        """Record a pending challenge (replacing a pending one, keeping its wrong answers)."""
        if decision.outcome is not Outcome.STEP_UP:
            raise ChallengeError(
                f"{decision.transaction_id} was decided {decision.outcome.value}, not step_up"
            )
        now = datetime.now(UTC)
        where = t.challenges.c.transaction_id == decision.transaction_id
        row = conn.execute(
            select(t.challenges.c.status, t.challenges.c.expires_at).where(where)
        ).first()
        status: str | None = None if row is None else str(row.status)
        if status == "pending" and row is not None and row.expires_at <= now:
            status = "expired"  # settled as block: asking again does not revive it
        if status is not None and status != "pending":
            raise ChallengeError(f"the challenge of {decision.transaction_id} is {status} already")
        values: dict[str, Any] = {
            "method": method.value, "code_hash": code_hash, "status": "pending",
            "created_at": now, "expires_at": now + TTL,
        }  # fmt: skip
        if row is None:
            conn.execute(
                insert(t.challenges).values(
                    transaction_id=decision.transaction_id, attempts=0, **values
                )
            )
        else:
            conn.execute(update(t.challenges).where(where).values(**values))
        return now + TTL

    def start(self, decision: Decision, method: Method, destination: str) -> datetime:
        """Send a code for a stepped-up decision; a new challenge replaces a pending one."""
        channel = self._channels.get(method)
        if method is Method.PASSKEY:
            raise ChallengeError(
                "method: a passkey challenge names the customer, not a destination"
            )
        if channel is None:
            raise ChallengeError(f"no {method.value} channel is configured for step-up codes")
        code = f"{secrets.randbelow(1_000_000):06d}"
        with writing(self._engine) as conn:
            expires = self._open(conn, decision, method, self._hash(decision.transaction_id, code))
        minutes = int(TTL.total_seconds() // 60)
        text = f"Your verification code is {code}. It expires in {minutes} minutes."
        try:
            send_text(channel, destination, text)
        except DeliveryError as exc:
            raise ChallengeError(f"the code could not be sent: {exc.message}") from None
        return expires

    def start_passkey(
        self, decision: Decision, customer_id: str
    ) -> tuple[dict[str, Any], datetime]:
        """WebAuthn options naming the customer's passkeys, for their device to sign."""
        with writing(self._engine) as conn:
            expires = self._open(conn, decision, Method.PASSKEY, "")
            options = self.passkeys.authentication_options(
                conn, owner=f"customer:{customer_id}",
                subject=f"step_up:{decision.transaction_id}", purpose="step_up",
            )  # fmt: skip
        return options, expires

    def verify(self, decision: Decision, code: str) -> Result:
        """Check a one-time code."""
        tid = decision.transaction_id
        return self._answer(
            decision,
            lambda _conn, row: hmac.compare_digest(row.code_hash, self._hash(tid, code.strip())),
        )

    def verify_passkey(
        self, decision: Decision, customer_id: str, credential: dict[str, Any]
    ) -> Result:
        """Check the customer's signed assertion (a refused one counts as a wrong answer)."""

        def valid(conn: Connection, row: Any) -> bool:
            if row.method != Method.PASSKEY.value:
                raise ChallengeError(f"the challenge of {decision.transaction_id} is by code")
            try:
                self.passkeys.authenticate(
                    conn, owner=f"customer:{customer_id}", credential=credential,
                    subject=f"step_up:{decision.transaction_id}", purpose="step_up",
                )  # fmt: skip
            except PasskeyError:
                return False
            return True

        return self._answer(decision, valid)

    def _answer(self, decision: Decision, valid: Callable[[Connection, Any], bool]) -> Result:
        now = datetime.now(UTC)
        tid = decision.transaction_id
        with writing(self._engine) as conn:
            row = conn.execute(
                select(t.challenges).where(t.challenges.c.transaction_id == tid)
            ).first()
            if row is None:
                raise NotFoundError(f"no challenge for {tid}: start one first")
            if row.status != "pending":
                return Result(row.status, _final(row.status), 0, None)
            status = "pending"
            attempts = row.attempts + 1
            if row.expires_at <= now:
                status = "expired"
            elif valid(conn, row):
                status = "passed"
            elif attempts >= MAX_ATTEMPTS:
                status = "failed"
            values: dict[str, Any] = {"attempts": attempts, "status": status}
            if status != "pending":
                values["resolved_at"] = now
            conn.execute(
                update(t.challenges).where(t.challenges.c.transaction_id == tid).values(**values)
            )
        label = None
        if status != "pending":
            genuine = status == "passed"
            label = Label(
                transaction_id=tid, is_fraud=not genuine, event_time=decision.event_time,
                known_at=now, source=LabelSource.STEP_UP,
                fraud_type=None if genuine else f"step_up_{status}",
            )  # fmt: skip
        return Result(status, _final(status), max(0, MAX_ATTEMPTS - attempts), label)

    def final_outcome(self, transaction_id: str) -> Outcome | None:
        """approve / block once the challenge is over (an unanswered one expires on reading)."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(t.challenges).where(t.challenges.c.transaction_id == transaction_id)
            ).first()
        if row is None:
            return None
        if row.status == "pending" and row.expires_at <= datetime.now(UTC):
            return Outcome.BLOCK
        return _final(row.status)


def _final(status: str) -> Outcome | None:
    if status == "passed":
        return Outcome.APPROVE
    if status in ("failed", "expired"):
        return Outcome.BLOCK
    return None
