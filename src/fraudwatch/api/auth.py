"""Who may call: bearer API keys (services) and user sessions (people), with roles, checked on
every endpoint against the permission table of `fraudwatch.security.access` (the services that
change state check the same table again).

A key is sent as `Authorization: Bearer fwk_<id>_<secret>`, a session as `Bearer fws_...`.
Verified keys are cached for a few seconds (a SHA-256 per request is cheap, a database round
trip is not); a revoked key stops working within `ttl_s`, and at once when this process sees
the `api_keys` revision change.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import HTTPException, Request

from fraudwatch.control.repository import ApiKey, ControlPlane
from fraudwatch.security.access import Actor, Permission, Role, roles_for
from fraudwatch.users.service import SESSION_PREFIX, UserService

#: roles allowed per kind of endpoint, from the one permission table
SCORE = roles_for(Permission.SCORE)
LABEL = roles_for(Permission.LABEL)
READ = roles_for(Permission.READ)
EDIT_RULES = roles_for(Permission.RULES_EDIT)
ADMIN = roles_for(Permission.USERS_ADMIN)
ANYONE = tuple(Role)


class Authenticator:
    def __init__(self, control: ControlPlane, *, ttl_s: float = 5.0) -> None:
        self._control = control
        self._ttl = ttl_s
        self._cache: dict[str, tuple[ApiKey | None, float]] = {}
        self._revision: int | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def _fresh_cache(self, now: float) -> None:
        if now - self._checked < self._ttl:
            return
        self._checked = now
        revision = self._control.revisions().get("api_keys")
        if revision != self._revision:
            self._revision = revision
            self._cache.clear()

    def clear(self) -> None:
        """Forget every verified key (after a revocation in this process)."""
        with self._lock:
            self._cache.clear()

    def __call__(self, token: str) -> ApiKey | None:
        now = time.monotonic()
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            self._fresh_cache(now)
            hit = self._cache.get(digest)
            if hit is not None and hit[1] > now:
                return hit[0]
        key = self._control.authenticate(token)
        with self._lock:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[digest] = (key, now + self._ttl)
        return key


@dataclass(frozen=True)
class Principal:
    """Who calls: an API key (`kind` "key") or a user's session (`kind` "user")."""

    name: str
    role: Role
    kind: str
    ident: str  # the key id or the username

    @property
    def actor(self) -> Actor:
        """How the audit log names it, with the role the services check."""
        if self.kind == "user":
            return Actor(f"{self.name} ({self.role.value})", self.role)
        return Actor(f"{self.name} (key {self.ident}, {self.role.value})", self.role)


class Denied(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def identify(
    authenticate: Authenticator, users: UserService, header: str, roles: Sequence[Role]
) -> Principal:
    """The caller of an `Authorization` header value, allowed one of `roles`, or `Denied`."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Denied(401, "send an API key or a session as `Authorization: Bearer <token>`")
    if token.startswith(SESSION_PREFIX):
        user = users.session(token)
        if user is None:
            raise Denied(401, "unknown or expired session: log in again")
        if not user.complete:
            raise Denied(
                403, "complete the second factor first (POST /v1/auth/mfa or /v1/auth/totp)"
            )
        principal = Principal(user.username, Role(user.role.value), "user", user.username)
    else:
        key = authenticate(token)
        if key is None:
            raise Denied(401, "unknown or revoked API key")
        principal = Principal(key.name, key.role, "key", key.key_id)
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Denied(403, f"role {principal.role.value!r} may not do this ({allowed})")
    return principal


def allow(permission: Permission) -> Callable[[Request], Principal]:
    """A dependency: the caller, whose role must hold `permission`."""
    return require(*roles_for(permission))


def require(*roles: Role) -> Callable[[Request], Principal]:
    """A dependency: the caller, refused with 401 (no or bad credentials) or 403 (wrong role,
    or a login whose second factor is not done)."""

    def dependency(request: Request) -> Principal:
        state = request.app.state
        try:
            return identify(
                state.authenticate, state.users, request.headers.get("authorization", ""), roles
            )
        except Denied as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            raise HTTPException(exc.status, exc.detail, headers=headers) from None

    return dependency
