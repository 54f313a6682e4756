"""The default feature set: what the platform promises, as plain definitions.

Velocity per card, customer, merchant, terminal, device and IP; behaviour against the customer's
usual; geolocation (distance, impossible travel, country mismatches); device and IP sharing
rings; and label-aware merchant and terminal risk from labels known at scoring time.
"""

from __future__ import annotations

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

ECOMMERCE = Filter("channel", ("ecommerce",))


def _velocity() -> list[Definition]:
    out: list[Definition] = []
    plans = {
        "card": ("10m", "1h", "24h", "7d"),
        "customer": ("1h", "24h", "7d", "30d"),
        "merchant": ("1h", "24h", "7d"),
        "terminal": ("1h", "24h", "7d"),
        "device": ("1h", "24h"),
        "ip": ("1h", "24h"),
    }
    for entity, windows in plans.items():
        for window in windows:
            out.append(WindowFeature(entity=(entity,), agg=A.COUNT, window=window))
            out.append(WindowFeature(entity=(entity,), agg=A.SUM, field="amount", window=window))
        out.append(WindowFeature(entity=(entity,), agg=A.MEAN, field="amount", window=windows[-1]))
    out.append(WindowFeature(entity=("card",), agg=A.COUNT, window="1h", where=ECOMMERCE))
    out.append(WindowFeature(entity=("card",), agg=A.MAX, field="amount", window="24h"))
    out.append(WindowFeature(entity=("customer", "merchant"), agg=A.COUNT, window="30d"))
    return out


def _behaviour() -> list[Definition]:
    return [
        WindowFeature(entity=("customer",), agg=A.RATIO_TO_MEAN, field="amount", window="30d"),
        WindowFeature(entity=("customer",), agg=A.STD, field="amount", window="30d"),
        Derived(DerivedKind.ZSCORE, entity=("customer",), window="30d"),
        Derived(DerivedKind.HOUR_DEVIATION, entity=("customer",), window="30d"),
        WindowFeature(entity=("customer",), agg=A.FIRST_SEEN, field="merchant_id", window="30d"),
        WindowFeature(entity=("customer",), agg=A.FIRST_SEEN, field="merchant_mcc", window="30d"),
        WindowFeature(
            entity=("customer",), agg=A.FIRST_SEEN, field="merchant_country", window="30d"
        ),
        WindowFeature(entity=("customer",), agg=A.FIRST_SEEN, field="device_id", window="30d"),
        WindowFeature(entity=("card",), agg=A.TIME_SINCE_LAST),
        WindowFeature(entity=("customer",), agg=A.TIME_SINCE_LAST),
    ]


def _geo() -> list[Definition]:
    return [
        Derived(DerivedKind.DISTANCE_FROM_HOME, entity=("customer",), window="30d"),
        Derived(DerivedKind.DISTANCE_FROM_PREVIOUS, entity=("card",)),
        Derived(DerivedKind.SPEED_FROM_PREVIOUS, entity=("card",)),
        Derived(DerivedKind.SPEED_FROM_PREVIOUS, entity=("customer",)),
        WindowFeature(entity=("card",), agg=A.DISTINCT, field="merchant_country", window="1h"),
        WindowFeature(entity=("card",), agg=A.DISTINCT, field="merchant_country", window="24h"),
        Derived(DerivedKind.MISMATCH, fields=("ip_country", "billing_country")),
        Derived(DerivedKind.MISMATCH, fields=("ip_country", "merchant_country")),
        Derived(DerivedKind.MISMATCH, fields=("billing_country", "merchant_country")),
    ]


def _device() -> list[Definition]:
    return [
        WindowFeature(entity=("card",), agg=A.FIRST_SEEN, field="device_id", window="30d"),
        WindowFeature(entity=("device",), agg=A.DISTINCT, field="card_token", window="24h"),
        WindowFeature(entity=("device",), agg=A.DISTINCT, field="customer_id", window="24h"),
        WindowFeature(entity=("ip",), agg=A.DISTINCT, field="card_token", window="24h"),
        WindowFeature(entity=("ip",), agg=A.DISTINCT, field="customer_id", window="24h"),
    ]


def _label_risk() -> list[Definition]:
    return [
        WindowFeature(entity=(entity,), agg=agg, window=window)
        for entity in ("merchant", "terminal")
        for agg in (A.FRAUD_COUNT, A.FRAUD_RATE)
        for window in ("7d", "30d")
    ]


def default_feature_set() -> FeatureSet:
    """The default set, in a stable order (its version changes only when a definition does)."""
    return FeatureSet(
        "default", tuple([*_velocity(), *_behaviour(), *_geo(), *_device(), *_label_risk()])
    )


def pass_through(attributes: list[str]) -> list[PassThrough]:
    """Pass-through definitions for a dataset's anonymised columns (ULB V1..V28, IEEE C/D/V)."""
    return [PassThrough(name) for name in attributes]


ULB_ATTRIBUTES = [f"V{index}" for index in range(1, 29)]
