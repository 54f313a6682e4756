"""Card tokenisation: a keyed HMAC-SHA256 of the card number, plus BIN and last four.

The token is stable for a key (so velocity features per card work across sources) and useless
without the key. A source that has no card number but a stable card key (a dataset's customer id)
gets a token of `source-namespace:key` under the same key, so both never collide.
"""

from __future__ import annotations

import hashlib
import hmac

from fraudwatch.errors import RecordError
from fraudwatch.events.model import Card

_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_valid(number: str) -> bool:
    """The Luhn check digit test of a string of digits."""
    digits = [ord(char) - 48 for char in number]
    total = sum(digits[-1::-2]) + sum([_DOUBLED[digit] for digit in digits[-2::-2]])
    return total % 10 == 0


class CardTokenizer:
    """Turns card numbers into `Card(token, bin, last4)`; the only holder of the token key."""

    def __init__(self, key: bytes, *, check_luhn: bool = True) -> None:
        if len(key) < 32:
            raise ValueError("the card token key must have at least 32 bytes")
        self._key = key
        self._check_luhn = check_luhn
        self._cache: dict[str, str] = {}
        self._checked: dict[str, str] = {}  # numbers that passed the Luhn check -> token

    def token(self, value: str) -> str:
        cached = self._cache.get(value)
        if cached is None:
            digest = hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()
            cached = "tok_" + digest[:32]
            if len(self._cache) < 1_000_000:
                self._cache[value] = cached
        return cached

    def card_from_number(
        self, raw: str, *, field: str = "card.number", check_luhn: bool | None = None
    ) -> Card:
        """Validate a PAN (12-19 digits, Luhn) and tokenise it; the PAN itself goes no further.

        `check_luhn=False` accepts a number failing the Luhn check (a public dataset's generated
        card numbers are card keys, not real PANs); `None` keeps the tokenizer's setting.
        """
        number = raw.replace(" ", "").replace("-", "")
        luhn = self._check_luhn if check_luhn is None else check_luhn
        checked = self._checked.get(number)
        if checked is not None:  # passed every check before, Luhn included
            return Card(token=checked, bin=number[:6], last4=number[-4:])
        if not number.isdigit() or not 12 <= len(number) <= 19:
            raise RecordError("bad_card_number", "must be 12 to 19 digits", field=field)
        if luhn and not luhn_valid(number):
            raise RecordError("bad_card_number", "fails the Luhn check", field=field)
        token = self.token(number)
        if luhn and len(self._checked) < 1_000_000:
            self._checked[number] = token
        return Card(token=token, bin=number[:6], last4=number[-4:])

    def card_from_key(self, namespace: str, key: str) -> Card:
        """A card known only by a stable identifier in a source (no PAN available)."""
        return Card(token=self.token(f"{namespace}:{key}"))
