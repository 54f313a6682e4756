"""Database URLs: which backend a URL names, and the SQLAlchemy URL with the right driver."""

from __future__ import annotations

from fraudwatch.errors import ConfigError
from fraudwatch.security.masking import redact

__all__ = ["in_memory", "redact", "scheme_of", "sqlalchemy_url"]

_POSTGRES_SCHEMES = ("postgresql", "postgres")


def scheme_of(url: str) -> str:
    """`postgresql+psycopg://…` -> `postgresql`; `sqlite:///x.db` -> `sqlite`."""
    head, sep, _rest = url.partition("://")
    if not sep or not head:
        raise ConfigError(f"not a database URL (expected scheme://...): {redact(url)}")
    return head.split("+", 1)[0].lower()


def sqlalchemy_url(url: str) -> str:
    """The URL SQLAlchemy needs: PostgreSQL always through psycopg 3."""
    head, _sep, rest = url.partition("://")
    scheme, _plus, driver = head.partition("+")
    if scheme.lower() in _POSTGRES_SCHEMES:
        if driver and driver != "psycopg":
            raise ConfigError(f"PostgreSQL is reached through psycopg 3, not {driver!r}")
        return f"postgresql+psycopg://{rest}"
    return url


def in_memory(url: str) -> bool:
    """True for an SQLite database that lives in one process's memory (`sqlite://`,
    `sqlite:///:memory:`, `mode=memory`): no other process can open it."""
    from sqlalchemy import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    return parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"
