"""What rules can name: the transaction's fields and the feature set's features, with types."""

from __future__ import annotations

from fraudwatch.features.definitions import FeatureSet
from fraudwatch.features.rows import ROW_FIELD
from fraudwatch.rules.language import Type, Vocabulary

#: transaction fields a scorer puts beside the features (flat canonical names)
FIELDS: dict[str, Type] = {
    "amount": Type.NUM,  # in EUR, converted with the reference table, as the features use it
    "amount_local": Type.NUM,  # in the transaction's own currency
    "currency": Type.STR,
    "channel": Type.STR,
    "entry_mode": Type.STR,
    "source": Type.STR,
    "hour_of_day": Type.NUM,
    "card_token": Type.STR,
    "card_bin": Type.STR,
    "customer_id": Type.STR,
    "customer_email": Type.STR,  # lower-cased; compared in memory, never logged
    "account_id": Type.STR,
    "merchant_id": Type.STR,
    "merchant_mcc": Type.STR,
    "merchant_country": Type.STR,
    "terminal_id": Type.STR,
    "device_id": Type.STR,
    "ip_address": Type.STR,
    "ip_country": Type.STR,
    "billing_country": Type.STR,
    "shipping_country": Type.STR,
    "model_score": Type.NUM,  # the calibrated model probability, when a model is loaded
    "anomaly_score": Type.NUM,
    "login_risk_1h": Type.NUM,  # the customer's riskiest login in the last hour (0..1)
}

#: rule field -> the feature row's attribute (`features.rows.TxRow`, `tx_table`'s column) for
#: the fields rules read as the row holds them (`amount` apart: the row has millionths of a EUR)
ROW_FIELDS: dict[str, str] = {
    name: attribute for name, attribute in ROW_FIELD.items() if name in FIELDS and name != "amount"
}


def vocabulary(feature_set: FeatureSet | None = None, lists: set[str] | None = None) -> Vocabulary:
    """Fields plus every feature of `feature_set` (numbers), and the named lists."""
    names = dict(FIELDS)
    if feature_set is not None:
        for name in feature_set.names:
            names.setdefault(name, Type.NUM)
    clash = sorted(set(lists or ()) & set(names))
    if clash:
        raise ValueError(f"list names must differ from field and feature names: {clash}")
    return Vocabulary(names, frozenset(lists or ()))
