"""Users: passwords (argon2id), a second factor (TOTP or passkeys, with recovery codes),
sessions, lockout.

Logging in is two steps for a user with a second factor: the password gives a *pending*
session that can do nothing but complete the second factor (a TOTP code, a passkey — see
`users/second_factor.py` — or a one-time recovery code); then the session is full. Admins and
analysts must set up a second factor before their session can do anything else
(`mfa_required`). Five wrong passwords in a row lock the account for 15
minutes. Sessions expire after `SESSION_HOURS`; tokens and recovery codes are stored only as
SHA-256 hashes, the TOTP secret encrypted. Every change is audited.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    Connection,
    Engine,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)

from fraudwatch.control import audit
from fraudwatch.errors import FraudwatchError, NotFoundError
from fraudwatch.security.access import Permission, check
from fraudwatch.security.crypto import KeyRing
from fraudwatch.storage import tables as t
from fraudwatch.storage.writing import writing
from fraudwatch.users.passkeys import Passkeys, RelyingParty

SESSION_HOURS = 8
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
RECOVERY_CODES = 10
SESSION_PREFIX = "fws_"
MFA_ROLES = frozenset({"admin", "analyst"})


class UserRole(StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    VIEWER = "viewer"


class AuthError(FraudwatchError):
    """Login refused; the message never says whether the user exists."""

    code = "unauthorized"


class UserError(FraudwatchError):
    code = "invalid_change"


@dataclass(frozen=True)
class Session:
    token: str  # shown once to the client
    username: str
    role: UserRole
    mfa_passed: bool
    mfa_required: bool  # the user must (set up and) pass a second factor first
    expires_at: datetime
    methods: tuple[str, ...] = ()  # the second factors set up: totp, passkey


@dataclass(frozen=True)
class SessionUser:
    username: str
    role: UserRole
    mfa_passed: bool
    mfa_enabled: bool  # TOTP is set up
    passkeys: bool = False  # a passkey is registered

    @property
    def has_second_factor(self) -> bool:
        return self.mfa_enabled or self.passkeys

    @property
    def complete(self) -> bool:
        """May act beyond finishing the login (second factor done when it is required)."""
        if self.has_second_factor:
            return self.mfa_passed
        return self.role.value not in MFA_ROLES


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def session_key(token: str) -> str:
    """How a session names itself where its token must not appear (challenges)."""
    return f"session:{_hash(token)}"


def new_recovery_codes(conn: Connection, username: str) -> list[str]:
    """Replace the user's recovery codes; the codes, shown once (only hashes are stored)."""
    codes = [secrets.token_hex(5) for _ in range(RECOVERY_CODES)]
    conn.execute(delete(t.recovery_codes).where(t.recovery_codes.c.username == username))
    conn.execute(
        insert(t.recovery_codes), [{"username": username, "code_hash": _hash(c)} for c in codes]
    )
    return codes


def pass_second_factor(conn: Connection, token: str) -> None:
    conn.execute(
        update(t.sessions).where(t.sessions.c.token_hash == _hash(token)).values(mfa_passed=True)
    )


class UserService:
    def __init__(
        self, engine: Engine, keyring: KeyRing, relying_party: RelyingParty | None = None
    ) -> None:
        self._engine = engine
        self._keyring = keyring
        self._hasher = PasswordHasher()
        self.passkeys = Passkeys(engine, relying_party)

    # -- administration -------------------------------------------------------------------

    def create(self, username: str, role: UserRole, password: str, *, by: str) -> None:
        check(by, Permission.USERS_ADMIN)
        if len(password) < 12:
            raise UserError("the password must have at least 12 characters")
        if (
            not username
            or len(username) > 64
            or not username.replace("-", "").replace(".", "").replace("_", "").isalnum()
        ):
            raise UserError("usernames are letters, digits, '.', '-' and '_', at most 64")
        with writing(self._engine) as conn:
            exists = conn.execute(
                select(t.users.c.username).where(t.users.c.username == username)
            ).first()
            if exists:
                raise UserError(f"user {username!r} exists already")
            conn.execute(
                insert(t.users).values(
                    username=username,
                    role=role.value,
                    password_hash=self._hasher.hash(password),
                    mfa_enabled=False,
                    failed_logins=0,
                    disabled=False,
                    created_at=_now(),
                )
            )
            audit.append(
                conn,
                actor=by,
                action="user.create",
                target=f"user:{username}",
                details={"role": role.value},
            )

    def users(self) -> list[dict[str, Any]]:
        columns = [
            t.users.c[n]
            for n in (
                "username",
                "role",
                "mfa_enabled",
                "disabled",
                "locked_until",
                "created_at",
                "last_login_at",
            )
        ]
        passkeys = (
            select(func.count())
            .where(t.passkeys.c.owner == literal("user:").concat(t.users.c.username))
            .scalar_subquery()
            .label("passkeys")
        )
        with self._engine.connect() as conn:
            return [
                dict(r._mapping)
                for r in conn.execute(select(*columns, passkeys).order_by(t.users.c.username))
            ]

    def disable(self, username: str, *, by: str) -> None:
        check(by, Permission.USERS_ADMIN)
        with writing(self._engine) as conn:
            done = conn.execute(
                update(t.users).where(t.users.c.username == username).values(disabled=True)
            )
            if done.rowcount != 1:
                raise NotFoundError(f"no user {username!r}")
            conn.execute(delete(t.sessions).where(t.sessions.c.username == username))
            audit.append(
                conn, actor=by, action="user.disable", target=f"user:{username}", details=None
            )

    def reset_second_factor(self, username: str, *, by: str) -> None:
        """For a user who lost their device: remove TOTP, passkeys and recovery codes and end
        their sessions; they set up a new second factor at the next login."""
        check(by, Permission.USERS_ADMIN)
        with writing(self._engine) as conn:
            done = conn.execute(
                update(t.users)
                .where(t.users.c.username == username)
                .values(mfa_enabled=False, totp_enc=None, pii_key_id=None)
            )
            if done.rowcount != 1:
                raise NotFoundError(f"no user {username!r}")
            removed = conn.execute(
                delete(t.passkeys).where(t.passkeys.c.owner == f"user:{username}")
            ).rowcount
            conn.execute(delete(t.recovery_codes).where(t.recovery_codes.c.username == username))
            conn.execute(delete(t.sessions).where(t.sessions.c.username == username))
            audit.append(
                conn,
                actor=by,
                action="user.second_factor_reset",
                target=f"user:{username}",
                details={"passkeys_removed": int(removed)},
            )

    # -- logging in -----------------------------------------------------------------------

    def login(self, username: str, password: str) -> Session:
        """Check the password; a session, full or pending the second factor. A failure is
        recorded (and may lock the account) before it is reported."""
        now = _now()
        refusal: str | None = None
        with writing(self._engine) as conn:
            row = conn.execute(select(t.users).where(t.users.c.username == username)).first()
            if row is None or row.disabled:
                self._hasher.hash(password)  # the same time whether or not the user exists
                refusal = "wrong username or password"
            elif row.locked_until is not None and row.locked_until > now:
                refusal = "too many failed logins: the account is locked for a while"
            elif not self._password_ok(row.password_hash, password):
                refusal = "wrong username or password"
                failures = row.failed_logins + 1
                values: dict[str, Any] = {"failed_logins": failures}
                if failures >= MAX_FAILURES:
                    values = {"failed_logins": 0, "locked_until": now + LOCKOUT}
                    target = f"user:{username}"
                    audit.append(
                        conn, actor="system", action="user.locked", target=target, details=None
                    )
                conn.execute(update(t.users).where(t.users.c.username == username).values(**values))
            else:
                conn.execute(
                    update(t.users)
                    .where(t.users.c.username == username)
                    .values(failed_logins=0, locked_until=None, last_login_at=now)
                )
                token = SESSION_PREFIX + secrets.token_urlsafe(32)
                expires = now + timedelta(hours=SESSION_HOURS)
                conn.execute(
                    insert(t.sessions).values(
                        token_hash=_hash(token),
                        username=username,
                        mfa_passed=False,
                        created_at=now,
                        expires_at=expires,
                    )
                )
        if refusal is not None or row is None:
            raise AuthError(refusal or "wrong username or password")
        role = UserRole(row.role)
        methods = ("totp",) * bool(row.mfa_enabled) + ("passkey",) * bool(
            self.passkeys.of(f"user:{username}")
        )
        required = bool(methods) or role.value in MFA_ROLES
        return Session(token, username, role, False, required, expires, methods)

    def _password_ok(self, stored: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(stored, password))
        except (VerificationError, InvalidHashError):
            return False

    def session(self, token: str) -> SessionUser | None:
        """The user of a live session token, or None."""
        if not token.startswith(SESSION_PREFIX):
            return None
        query = (
            select(
                t.users.c.username,
                t.users.c.role,
                t.users.c.mfa_enabled,
                t.users.c.disabled,
                t.sessions.c.mfa_passed,
                t.sessions.c.expires_at,
                exists()
                .where(t.passkeys.c.owner == literal("user:").concat(t.users.c.username))
                .label("passkeys"),
            )
            .join(t.sessions, t.sessions.c.username == t.users.c.username)
            .where(t.sessions.c.token_hash == _hash(token))
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or row.disabled or row.expires_at <= _now():
            return None
        return SessionUser(
            row.username,
            UserRole(row.role),
            bool(row.mfa_passed),
            bool(row.mfa_enabled),
            bool(row.passkeys),
        )

    def logout(self, token: str) -> None:
        with writing(self._engine) as conn:
            conn.execute(delete(t.sessions).where(t.sessions.c.token_hash == _hash(token)))

    # -- the second factor ------------------------------------------------------------------

    def _secret(self, row: Any) -> str:
        return self._keyring.decrypt(
            row.pii_key_id, bytes(row.totp_enc), f"users:{row.username}:totp".encode()
        )

    def setup_totp(self, token: str) -> str:
        """Start TOTP enrolment for the session's user; returns the otpauth:// URI (a QR code)."""
        user = self.session(token)
        if user is None:
            raise AuthError("log in first")
        if user.mfa_enabled:
            raise UserError("a second factor is set up already")
        if user.passkeys and not user.mfa_passed:  # a password alone adds no factor
            raise AuthError("complete the login with your passkey first")
        secret = pyotp.random_base32()
        sealed = self._keyring.encrypt(secret, f"users:{user.username}:totp".encode())
        with writing(self._engine) as conn:
            conn.execute(
                update(t.users)
                .where(t.users.c.username == user.username)
                .values(totp_enc=sealed, pii_key_id=self._keyring.active_key_id)
            )
        return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name="fraudwatch")

    def confirm_totp(self, token: str, code: str) -> list[str]:
        """Finish enrolment with a first code; returns the recovery codes (shown once)."""
        user = self.session(token)
        if user is None:
            raise AuthError("log in first")
        with writing(self._engine) as conn:
            row = conn.execute(select(t.users).where(t.users.c.username == user.username)).one()
            if row.totp_enc is None or row.mfa_enabled:
                raise UserError("start with the TOTP setup")
            if user.passkeys and not user.mfa_passed:
                raise AuthError("complete the login with your passkey first")
            if not pyotp.TOTP(self._secret(row)).verify(code, valid_window=1):
                raise AuthError("wrong code")
            codes = new_recovery_codes(conn, user.username)
            conn.execute(
                update(t.users).where(t.users.c.username == user.username).values(mfa_enabled=True)
            )
            conn.execute(
                update(t.sessions)
                .where(t.sessions.c.token_hash == _hash(token))
                .values(mfa_passed=True)
            )
            audit.append(
                conn,
                actor=user.username,
                action="user.mfa_enabled",
                target=f"user:{user.username}",
                details=None,
            )
        return codes

    def verify_second_factor(self, token: str, code: str) -> SessionUser:
        """Complete a pending session with a TOTP code or an unused recovery code."""
        user = self.session(token)
        if user is None:
            raise AuthError("log in first")
        if not user.has_second_factor:
            raise UserError("set up a second factor first (POST /v1/auth/totp or a passkey)")
        with writing(self._engine) as conn:
            row = conn.execute(select(t.users).where(t.users.c.username == user.username)).one()
            ok = user.mfa_enabled and pyotp.TOTP(self._secret(row)).verify(code, valid_window=1)
            if not ok:
                used = conn.execute(
                    update(t.recovery_codes)
                    .where(
                        t.recovery_codes.c.username == user.username,
                        t.recovery_codes.c.code_hash == _hash(code),
                        t.recovery_codes.c.used_at.is_(None),
                    )
                    .values(used_at=_now())
                )
                ok = used.rowcount == 1
                if ok:
                    audit.append(
                        conn,
                        actor=user.username,
                        action="user.recovery_code_used",
                        target=f"user:{user.username}",
                        details=None,
                    )
            if not ok:
                raise AuthError("wrong code")
            conn.execute(
                update(t.sessions)
                .where(t.sessions.c.token_hash == _hash(token))
                .values(mfa_passed=True)
            )
        return SessionUser(user.username, user.role, True, user.mfa_enabled, user.passkeys)
