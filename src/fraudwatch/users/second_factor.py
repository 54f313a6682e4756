"""Passkeys as a user's second factor: enrol one, log in with one, list and remove them.

The rules mirror TOTP's: a user with no second factor yet may enrol a passkey from the pending
session the password gave (the first one also brings recovery codes and completes the login);
once a second factor exists, adding or removing a passkey needs a complete session, so a
password alone never adds a factor. Registering and removing are audited.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from fraudwatch.control import audit
from fraudwatch.storage import tables as t
from fraudwatch.storage.writing import writing
from fraudwatch.users.passkeys import Passkey, PasskeyError
from fraudwatch.users.service import (
    AuthError,
    SessionUser,
    UserService,
    new_recovery_codes,
    pass_second_factor,
    session_key,
)


def _owner(user: SessionUser) -> str:
    return f"user:{user.username}"


class UserPasskeys:
    def __init__(self, users: UserService) -> None:
        self._users = users
        self._passkeys = users.passkeys
        self._engine = users.passkeys.engine

    def _user(self, token: str, *, complete: bool) -> SessionUser:
        user = self._users.session(token)
        if user is None:
            raise AuthError("log in first")
        if complete and user.has_second_factor and not user.mfa_passed:
            raise AuthError("complete the login with your second factor first")
        return user

    def registration_options(self, token: str) -> dict[str, Any]:
        user = self._user(token, complete=True)
        with writing(self._engine) as conn:
            return self._passkeys.registration_options(
                conn, owner=_owner(user), name=user.username, subject=session_key(token)
            )

    def register(self, token: str, credential: dict[str, Any]) -> dict[str, Any]:
        """Store the verified passkey; the first second factor also returns recovery codes.
        A refused answer still uses its challenge up (the transaction commits, then raises)."""
        user = self._user(token, complete=True)
        refused: PasskeyError | None = None
        codes: list[str] | None = None
        with writing(self._engine) as conn:
            try:
                passkey = self._passkeys.register(
                    conn, owner=_owner(user), subject=session_key(token), credential=credential
                )
            except PasskeyError as exc:
                refused = exc
            else:
                codes = self._first_factor(conn, user, token)
                audit.append(
                    conn,
                    actor=user.username,
                    action="user.passkey_registered",
                    target=f"user:{user.username}",
                    details={"credential_id": passkey.credential_id,
                             "transports": passkey.transports},
                )  # fmt: skip
        if refused is not None:
            raise refused
        return {"credential_id": passkey.credential_id, "recovery_codes": codes}

    def _first_factor(self, conn: Connection, user: SessionUser, token: str) -> list[str] | None:
        """A first second factor completes the session and brings recovery codes."""
        if user.has_second_factor:
            return None
        pass_second_factor(conn, token)
        unused = conn.execute(
            select(t.recovery_codes.c.code_hash).where(
                t.recovery_codes.c.username == user.username,
                t.recovery_codes.c.used_at.is_(None),
            )
        ).first()
        return None if unused else new_recovery_codes(conn, user.username)

    def login_options(self, token: str) -> dict[str, Any]:
        user = self._user(token, complete=False)
        with writing(self._engine) as conn:
            return self._passkeys.authentication_options(
                conn, owner=_owner(user), subject=session_key(token)
            )

    def login(self, token: str, credential: dict[str, Any]) -> SessionUser:
        """Complete a pending session with an assertion of one of the user's passkeys."""
        user = self._user(token, complete=False)
        refused: PasskeyError | None = None
        with writing(self._engine) as conn:
            try:
                self._passkeys.authenticate(
                    conn, owner=_owner(user), subject=session_key(token), credential=credential
                )
            except PasskeyError as exc:  # commit: the challenge stays used
                refused = exc
            else:
                pass_second_factor(conn, token)
        if refused is not None:  # a failed login, like a wrong code
            raise AuthError(refused.message)
        return SessionUser(user.username, user.role, True, user.mfa_enabled, True)

    def of(self, token: str) -> list[Passkey]:
        return self._passkeys.of(_owner(self._user(token, complete=True)))

    def remove(self, token: str, credential_id: str) -> None:
        user = self._user(token, complete=True)
        with writing(self._engine) as conn:
            self._passkeys.remove(conn, owner=_owner(user), credential_id=credential_id)
            audit.append(
                conn,
                actor=user.username,
                action="user.passkey_removed",
                target=f"user:{user.username}",
                details={"credential_id": credential_id},
            )
