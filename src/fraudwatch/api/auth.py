"""Bearer API keys with roles, checked on every endpoint.

A key is sent as `Authorization: Bearer fwk_<id>_<secret>`. Verified keys are cached for a few
seconds (a SHA-256 per request is cheap, a database round trip is not); a revoked key stops
working within `ttl_s`, and at once when this process sees the `api_keys` revision change.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from fastapi import HTTPException, Request, status

from fraudwatch.control.repository import ApiKey, ControlPlane, Role

#: roles allowed per permission
SCORE = (Role.SERVICE, Role.ADMIN)
LABEL = (Role.SERVICE, Role.ANALYST, Role.ADMIN)
READ = (Role.VIEWER, Role.ANALYST, Role.SERVICE, Role.ADMIN)
EDIT_RULES = (Role.ANALYST, Role.ADMIN)
ADMIN = (Role.ADMIN,)


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


def require(*roles: Role) -> Callable[[Request], ApiKey]:
    """A dependency: the caller's key, refused with 401 (no or bad key) or 403 (wrong role)."""

    def dependency(request: Request) -> ApiKey:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "send an API key as `Authorization: Bearer <key>`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        authenticate: Authenticator = request.app.state.authenticate
        key = authenticate(token.strip())
        if key is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "unknown or revoked API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if key.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {key.role.value!r} may not do this ({allowed})"
            )
        return key

    return dependency
