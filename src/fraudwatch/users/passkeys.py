"""WebAuthn passkeys: registration and authentication ceremonies, credentials per owner.

An owner is `user:<username>` (a second factor for people) or `customer:<id>` (customer
verification at step-up). Each ceremony is two calls: the options (a fresh random challenge,
stored server-side for one subject and purpose, valid `CHALLENGE_TTL`, used once) and the
verification of what the authenticator answered, done by the `webauthn` package. A stored
credential keeps its public key and signature counter; an assertion whose counter does not move
forward is refused (a cloned authenticator would replay an old counter).

The relying party is this deployment's domain (`rp_id`); a browser only uses a passkey on an
origin whose host is that domain or under it. Without configured origins the same rule is
applied here (https, or http on localhost).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, delete, insert, select, update
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidCBORData,
    InvalidJSONStructure,
    InvalidRegistrationResponse,
)
from webauthn.helpers.options_to_json_dict import options_to_json_dict
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from fraudwatch.errors import FraudwatchError, NotFoundError
from fraudwatch.storage import tables as t

CHALLENGE_TTL = timedelta(minutes=5)


class PasskeyError(FraudwatchError):
    """The authenticator's answer does not verify; the message says which part and why."""

    code = "invalid_passkey"


@dataclass(frozen=True)
class RelyingParty:
    rp_id: str = "localhost"
    name: str = "fraudwatch"
    origins: frozenset[str] = field(default_factory=frozenset)  # empty: the browser's rule

    def check_origin(self, origin: str) -> str:
        if self.origins:
            if origin in self.origins:
                return origin
        else:
            parts = urlsplit(origin)
            host = parts.hostname or ""
            ours = host == self.rp_id or host.endswith("." + self.rp_id)
            secure = parts.scheme == "https" or (parts.scheme == "http" and host == "localhost")
            if ours and secure:
                return origin
        raise PasskeyError(f"clientDataJSON.origin: {origin!r} is not an origin of {self.rp_id}")


@dataclass(frozen=True)
class Passkey:
    credential_id: str
    owner: str
    transports: list[str]
    created_at: datetime
    last_used_at: datetime | None


def _now() -> datetime:
    return datetime.now(UTC)


def _b64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _origin(credential: dict[str, Any]) -> str:
    try:
        client_data = json.loads(_b64(credential["response"]["clientDataJSON"]))
        origin = client_data["origin"]
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise PasskeyError("response.clientDataJSON: missing or not base64url JSON") from None
    if not isinstance(origin, str):
        raise PasskeyError("clientDataJSON.origin: not a string")
    return origin


class Passkeys:
    """Ceremonies and stored credentials (the callers decide who may start them)."""

    def __init__(self, engine: Engine, relying_party: RelyingParty | None = None) -> None:
        self.engine = engine
        self.relying_party = relying_party or RelyingParty()

    # -- challenges ---------------------------------------------------------------------------

    def _issue(self, conn: Connection, subject: str, purpose: str) -> bytes:
        challenge = secrets.token_bytes(32)
        key = (t.webauthn_challenges.c.subject == subject) & (
            t.webauthn_challenges.c.purpose == purpose
        )
        conn.execute(delete(t.webauthn_challenges).where(key))
        conn.execute(
            insert(t.webauthn_challenges).values(
                subject=subject, purpose=purpose, challenge=challenge,
                expires_at=_now() + CHALLENGE_TTL,
            )
        )  # fmt: skip
        return challenge

    def _take(self, conn: Connection, subject: str, purpose: str) -> bytes:
        """The outstanding challenge, removed: each is answered at most once."""
        c = t.webauthn_challenges.c
        key = (c.subject == subject) & (c.purpose == purpose)
        row = conn.execute(select(c.challenge, c.expires_at).where(key)).first()
        if row is None:
            raise PasskeyError(f"no {purpose} challenge is waiting: ask for the options first")
        conn.execute(delete(t.webauthn_challenges).where(key))
        if row.expires_at <= _now():
            raise PasskeyError(f"the {purpose} challenge expired: ask for new options")
        return bytes(row.challenge)

    # -- registration -------------------------------------------------------------------------

    def registration_options(
        self, conn: Connection, *, owner: str, name: str, subject: str
    ) -> dict[str, Any]:
        """Options for `navigator.credentials.create()` (JSON); existing keys are excluded."""
        known = [
            PublicKeyCredentialDescriptor(id=_b64(p.credential_id))
            for p in self._passkeys(conn, owner)
        ]
        options = generate_registration_options(
            rp_id=self.relying_party.rp_id,
            rp_name=self.relying_party.name,
            user_name=name,
            user_id=owner.encode(),
            challenge=self._issue(conn, subject, "register"),
            exclude_credentials=known,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
        )
        return options_to_json_dict(options)

    def register(
        self, conn: Connection, *, owner: str, subject: str, credential: dict[str, Any]
    ) -> Passkey:
        """Verify a registration response and store the credential."""
        challenge = self._take(conn, subject, "register")
        origin = self.relying_party.check_origin(_origin(credential))
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self.relying_party.rp_id,
                expected_origin=origin,
            )
        except (InvalidRegistrationResponse, InvalidJSONStructure, InvalidCBORData) as exc:
            raise PasskeyError(f"registration: {exc}") from None
        credential_id = bytes_to_base64url(verified.credential_id)
        exists = conn.execute(
            select(t.passkeys.c.owner).where(t.passkeys.c.credential_id == credential_id)
        ).first()
        if exists:
            raise PasskeyError("credential: this passkey is registered already")
        transports = _transports(credential)
        now = _now()
        conn.execute(
            insert(t.passkeys).values(
                credential_id=credential_id, owner=owner,
                public_key=verified.credential_public_key, sign_count=verified.sign_count,
                transports=transports, aaguid=verified.aaguid, created_at=now,
            )
        )  # fmt: skip
        return Passkey(credential_id, owner, transports, now, None)

    # -- authentication -----------------------------------------------------------------------

    def authentication_options(
        self, conn: Connection, *, owner: str, subject: str, purpose: str = "login"
    ) -> dict[str, Any]:
        """Options for `navigator.credentials.get()` naming the owner's credentials."""
        mine = self._passkeys(conn, owner)
        if not mine:
            raise NotFoundError("no passkey is registered for this account")
        allowed = [
            PublicKeyCredentialDescriptor(
                id=_b64(p.credential_id),
                transports=[AuthenticatorTransport(x) for x in p.transports if _transport(x)],
            )
            for p in mine
        ]
        options = generate_authentication_options(
            rp_id=self.relying_party.rp_id,
            challenge=self._issue(conn, subject, purpose),
            allow_credentials=allowed,
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        return options_to_json_dict(options)

    def authenticate(
        self,
        conn: Connection,
        *,
        owner: str,
        subject: str,
        credential: dict[str, Any],
        purpose: str = "login",
    ) -> str:
        """Verify an assertion by one of the owner's passkeys; returns its credential id."""
        challenge = self._take(conn, subject, purpose)
        origin = self.relying_party.check_origin(_origin(credential))
        credential_id = credential.get("id")
        row = conn.execute(
            select(t.passkeys).where(
                t.passkeys.c.credential_id == credential_id, t.passkeys.c.owner == owner
            )
        ).first()
        if row is None:
            raise PasskeyError("id: not a passkey of this account")
        try:
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self.relying_party.rp_id,
                expected_origin=origin,
                credential_public_key=bytes(row.public_key),
                credential_current_sign_count=int(row.sign_count),
            )
        except (InvalidAuthenticationResponse, InvalidJSONStructure, InvalidCBORData) as exc:
            if "sign count" in str(exc):
                raise PasskeyError(
                    "authenticatorData.signCount: did not move forward (a cloned "
                    "authenticator?); the passkey is refused"
                ) from None
            raise PasskeyError(f"authentication: {exc}") from None
        conn.execute(
            update(t.passkeys)
            .where(t.passkeys.c.credential_id == credential_id)
            .values(sign_count=verified.new_sign_count, last_used_at=_now())
        )
        return str(credential_id)

    # -- stored credentials -------------------------------------------------------------------

    def _passkeys(self, conn: Connection, owner: str) -> list[Passkey]:
        c = t.passkeys.c
        rows = conn.execute(
            select(c.credential_id, c.owner, c.transports, c.created_at, c.last_used_at)
            .where(c.owner == owner)
            .order_by(c.created_at)
        )
        return [
            Passkey(r.credential_id, r.owner, list(r.transports or []), r.created_at,
                    r.last_used_at)
            for r in rows
        ]  # fmt: skip

    def of(self, owner: str) -> list[Passkey]:
        with self.engine.connect() as conn:
            return self._passkeys(conn, owner)

    def remove(self, conn: Connection, *, owner: str, credential_id: str) -> None:
        done = conn.execute(
            delete(t.passkeys).where(
                t.passkeys.c.owner == owner, t.passkeys.c.credential_id == credential_id
            )
        )
        if done.rowcount != 1:
            raise NotFoundError(f"no passkey {credential_id!r} on this account")


def _transport(value: str) -> bool:
    return value in {x.value for x in AuthenticatorTransport}


def _transports(credential: dict[str, Any]) -> list[str]:
    found = credential.get("response", {}).get("transports") or []
    return [str(x) for x in found if isinstance(x, str) and _transport(x)]
