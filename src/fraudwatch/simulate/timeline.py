"""The generated stream as columns: transactions and logins, one numpy array per field.

Rows hold indices into the world's tables (customer, card, merchant, device ...) rather than
strings; `arrow.py` and `events.py` turn them into Parquet columns or canonical events.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

FRAUD_TYPES: tuple[str, ...] = (
    "card_testing",
    "stolen_card_spree",
    "account_takeover",
    "compromised_terminal",
    "high_amount",
    "friendly_fraud",
)
LEGIT = 0
CARD_TESTING, STOLEN_CARD_SPREE, ACCOUNT_TAKEOVER, COMPROMISED_TERMINAL, HIGH_AMOUNT, FRIENDLY = (
    range(1, 7)
)


def fraud_type_name(code: int) -> str | None:
    return FRAUD_TYPES[code - 1] if code > 0 else None


@dataclass(slots=True)
class TxBatch:
    """Transactions: `ip` 0 means none; -1 means none for every other index column."""

    time: Ints  # epoch seconds, UTC
    customer: Ints
    card: Ints
    merchant: Ints
    terminal: Ints
    channel: Ints
    entry_mode: Ints
    device: Ints
    ip: Ints
    amount: Ints  # minor units of `currency`
    currency: Ints
    shipping: Ints  # country
    three_ds: Ints
    fraud: Ints  # 0 legit, else 1 + index in FRAUD_TYPES (ground truth, never written as such)
    incident: Ints  # fraud incident id: its rows are found out together

    @classmethod
    def empty(cls, n: int) -> TxBatch:
        none = np.full(n, -1, dtype=np.int64)
        batch = cls(**{f.name: none.copy() for f in fields(cls)})
        batch.ip[:] = 0
        batch.fraud[:] = LEGIT
        return batch

    def __len__(self) -> int:
        return int(self.time.size)

    def take(self, rows: Ints | Bools) -> TxBatch:
        return TxBatch(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @classmethod
    def concat(cls, batches: list[TxBatch]) -> TxBatch:
        return cls(
            **{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(cls)}
        )


@dataclass(slots=True)
class LoginBatch:
    time: Ints
    customer: Ints
    device: Ints
    ip: Ints
    success: Bools
    country: Ints  # of the address
    city: Ints  # where the address geolocates (city level, as IP geolocation does)

    def __len__(self) -> int:
        return int(self.time.size)

    def take(self, rows: Ints | Bools) -> LoginBatch:
        return LoginBatch(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @classmethod
    def concat(cls, batches: list[LoginBatch]) -> LoginBatch:
        return cls(
            **{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(cls)}
        )


@dataclass(slots=True)
class LabelBatch:
    """Labels: which transaction, fraud or not, by whom, and when it became known."""

    transaction: Ints  # row in the (sorted) transaction batch
    is_fraud: Bools
    fraud_type: Ints  # 0 when not fraud
    source: Ints  # index in LABEL_SOURCES
    known_at: Ints  # epoch seconds

    def __len__(self) -> int:
        return int(self.transaction.size)

    def take(self, rows: Ints | Bools) -> LabelBatch:
        return LabelBatch(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})


LABEL_SOURCES: tuple[str, ...] = ("chargeback", "customer_report", "analyst")
CHARGEBACK, CUSTOMER_REPORT, ANALYST = range(3)
