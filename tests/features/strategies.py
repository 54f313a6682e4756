"""Small tricky streams for the feature engines, and feature sets that exercise every kind.

`random_stream(seed)` makes a few dozen transactions over few keys (windows overlap), with
duplicate timestamps, events exactly 10 minutes / 1 hour apart (the window lengths of
`targeted_feature_set`), null keys, positions missing, arrival numbers (`seq`) not always in time
order, labels known before, at and after their transaction, several labels per transaction, labels
for unknown transactions, and gaps longer than the horizon. `streams()` is the same as a
hypothesis strategy (shrinking by seed and size).
"""

from __future__ import annotations

import random

from hypothesis import strategies as st

from fraudwatch.features.definitions import (
    Aggregation as A,
)
from fraudwatch.features.definitions import (
    Definition,
    Derived,
    DerivedKind,
    FeatureSet,
    Filter,
    PassThrough,
    WindowFeature,
)
from fraudwatch.features.rows import LabelRow, StreamItem, TxRow, merge_stream

S = 1_000_000  # one second in microseconds
T0 = 1_700_000_000 * S
# steps between consecutive timestamps: ties, exact window lengths, small, beyond the horizon
_STEPS = [0, 0, 1, 30 * S, 600 * S, 600 * S, 3600 * S, 59 * S, 7 * 3600 * S, 3 * 86_400 * S]


def _pick(rng: random.Random, pool: list[str | None]) -> str | None:
    return rng.choice(pool)


def random_transactions(rng: random.Random, n: int) -> list[TxRow]:
    """`n` transactions in time order; `seq` is a slightly shuffled arrival order."""
    ts = T0
    times = []
    for _ in range(n):
        ts += rng.choice(_STEPS)
        times.append(ts)
    order = list(range(n))
    for _ in range(n // 4):  # a few neighbours arrive swapped: seq not monotone in ts
        i = rng.randrange(n - 1) if n > 1 else 0
        order[i], order[min(i + 1, n - 1)] = order[min(i + 1, n - 1)], order[i]
    cards: list[str | None] = ["c1", "c2", "c3", None]
    customers: list[str | None] = ["u1", "u2", None]
    merchants: list[str | None] = ["m1", "m2", "m3"]
    countries: list[str | None] = ["FR", "DE", None]
    rows = []
    for index, moment in enumerate(times):
        placed = rng.random() < 0.8
        rows.append(
            TxRow(
                seq=order[index],
                transaction_id=f"t{order[index]}",
                ts=moment,
                amount=rng.choice([0, 1, 1_000_000, 2_500_000, rng.randrange(1, 10**9)]),
                hour=(moment // (3600 * S)) % 24,
                card=_pick(rng, cards),
                customer=_pick(rng, customers),
                account=_pick(rng, ["a1", None]),
                merchant=_pick(rng, merchants),
                terminal=_pick(rng, ["x1", "x2", None]),
                device=_pick(rng, ["d1", "d2", None]),
                ip=_pick(rng, ["i1", "i2", None]),
                mcc=_pick(rng, ["5411", "5999"]),
                channel=_pick(rng, ["ecommerce", "pos", None]),
                entry_mode=_pick(rng, ["chip", None]),
                currency="EUR",
                source="sim",
                merchant_country=_pick(rng, countries),
                billing_country=_pick(rng, countries),
                shipping_country=_pick(rng, countries),
                ip_country=_pick(rng, countries),
                lat=rng.randrange(-90_000_000, 90_000_000) if placed else None,
                lon=rng.randrange(-180_000_000, 180_000_000) if placed else None,
                attributes={"V1": rng.random()} if rng.random() < 0.7 else {},
            )
        )
    return rows


def random_labels(rng: random.Random, rows: list[TxRow]) -> list[LabelRow]:
    """Labels before / at / after their transaction, repeated, overturned, or for unknown ids."""
    labels = []
    for row in rows:
        for _ in range(rng.choice([0, 0, 1, 1, 2])):
            delta = rng.choice([-600 * S, 0, 0, 1, 600 * S, 3000 * S, 2 * 3600 * S])
            labels.append(LabelRow(row.transaction_id, row.ts + delta, rng.random() < 0.7))
    if rows:
        labels.append(LabelRow("unknown", rows[0].ts, True))
    return labels


def random_stream(seed: int, n: int = 40) -> list[StreamItem]:
    """A merged stream (see the module docstring) of `n` transactions and their labels."""
    rng = random.Random(seed)
    rows = random_transactions(rng, n)
    return merge_stream(rows, random_labels(rng, rows))


def streams(max_size: int = 40) -> st.SearchStrategy[list[StreamItem]]:
    """Hypothesis strategy over `random_stream`."""
    return st.builds(random_stream, st.integers(0, 2**32), st.integers(1, max_size))


def targeted_feature_set() -> FeatureSet:
    """Every aggregation and derived kind, with filters, label delays, pairs and short windows."""
    pos = Filter("channel", ("pos",))
    not_ecom = Filter("channel", ("ecommerce",), "not_in")
    out: list[Definition] = []
    for window in ("10m", "1h"):
        for agg in (A.COUNT, A.FRAUD_COUNT, A.FRAUD_RATE):
            out.append(WindowFeature(entity=("card",), agg=agg, window=window))
        for field in ("amount", "latitude", "hour_of_day"):
            for agg in (A.SUM, A.MEAN, A.STD, A.MIN, A.MAX, A.RATIO_TO_MEAN):
                out.append(WindowFeature(entity=("card",), agg=agg, field=field, window=window))
        for field in ("merchant_id", "merchant_country", "amount"):
            out.append(WindowFeature(entity=("card",), agg=A.DISTINCT, field=field, window=window))
            out.append(
                WindowFeature(entity=("customer",), agg=A.FIRST_SEEN, field=field, window=window)
            )
        out.append(WindowFeature(entity=("card",), agg=A.COUNT, window=window, where=pos))
        out.append(
            WindowFeature(entity=("card",), agg=A.SUM, field="amount", window=window, where=pos)
        )
        out.append(
            WindowFeature(entity=("merchant",), agg=A.FRAUD_RATE, window=window, where=not_ecom)
        )
        out.append(
            WindowFeature(entity=("merchant",), agg=A.FRAUD_COUNT, window=window, label_delay="10m")
        )
        out.append(
            WindowFeature(entity=("merchant",), agg=A.FRAUD_RATE, window=window, label_delay="10m")
        )
        out.append(WindowFeature(entity=("customer", "merchant"), agg=A.COUNT, window=window))
        out.append(
            WindowFeature(entity=("card",), agg=A.DISTINCT, field="customer_id", window=window)
        )
        out.append(Derived(DerivedKind.ZSCORE, entity=("customer",), window=window))
        out.append(Derived(DerivedKind.HOUR_DEVIATION, entity=("customer",), window=window))
        out.append(Derived(DerivedKind.DISTANCE_FROM_HOME, entity=("card",), window=window))
    out += [
        WindowFeature(entity=("card",), agg=A.TIME_SINCE_LAST),
        WindowFeature(entity=("card",), agg=A.TIME_SINCE_LAST, where=pos),
        WindowFeature(entity=("customer",), agg=A.FIRST_SEEN, field="device_id"),
        WindowFeature(entity=("card",), agg=A.LAST, field="amount"),
        WindowFeature(entity=("card",), agg=A.LAST, field="latitude"),
        WindowFeature(entity=("card",), agg=A.LAST, field="merchant_country"),
        WindowFeature(entity=("card", "device"), agg=A.TIME_SINCE_LAST),
        Derived(DerivedKind.DISTANCE_FROM_PREVIOUS, entity=("card",)),
        Derived(DerivedKind.SPEED_FROM_PREVIOUS, entity=("card",)),
        Derived(DerivedKind.SPEED_FROM_PREVIOUS, entity=("customer",)),
        Derived(DerivedKind.MISMATCH, fields=("ip_country", "billing_country")),
        PassThrough("V1"),
        PassThrough("V2", default=-1.0),
    ]
    return FeatureSet("targeted", tuple(out))
