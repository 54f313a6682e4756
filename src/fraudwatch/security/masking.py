"""Masking card numbers in free text (log lines, dead-letter messages, exports)."""

from __future__ import annotations

import re

from fraudwatch.security.tokens import luhn_valid

_PAN_LIKE = re.compile(r"(?<!\d)\d(?:[ -]?\d){11,18}(?!\d)")


def mask_pans(text: str) -> str:
    """`text` with every Luhn-valid PAN-like digit run masked as `411111******1111`.

    >>> mask_pans("card=4111 1111 1111 1111 ok")
    'card=411111******1111 ok'
    """
    return _PAN_LIKE.sub(_mask_match, text)


def _mask_match(match: re.Match[str]) -> str:
    digits = match.group(0).replace(" ", "").replace("-", "")
    if not luhn_valid(digits):
        return match.group(0)
    return f"{digits[:6]}{'*' * (len(digits) - 10)}{digits[-4:]}"


def redact(url: str) -> str:
    """A URL fit for a message: the password, if any, replaced by ***."""
    head, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{head}{sep}{user}:***@{host}"
