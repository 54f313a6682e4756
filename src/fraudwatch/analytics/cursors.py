"""Opaque keyset cursors: a time and a transaction id, URL-safe."""

from __future__ import annotations

import base64
from datetime import datetime

from fraudwatch.errors import FraudwatchError


class BadQuery(FraudwatchError):
    """A query parameter the dashboard API cannot use; the message names it."""

    code = "invalid_query"


def encode(at: datetime, transaction_id: str) -> str:
    raw = f"{at.isoformat()}|{transaction_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str | None, *, field: str = "after") -> tuple[datetime, str] | None:
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, _, transaction_id = base64.urlsafe_b64decode(padded).decode().partition("|")
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise BadQuery(f"{field}: not a cursor this API returned") from None
    if moment.tzinfo is None:
        raise BadQuery(f"{field}: not a cursor this API returned")
    return moment, transaction_id
