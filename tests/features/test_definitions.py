"""Feature definitions: validation, derived names, YAML round trip, versions."""

import doctest

import pytest

import fraudwatch.features.definitions as definitions_module
from fraudwatch.features.defaults import ULB_ATTRIBUTES, default_feature_set, pass_through
from fraudwatch.features.definitions import (
    Aggregation,
    DefinitionError,
    Derived,
    FeatureSet,
    Filter,
    PassThrough,
    WindowFeature,
    window_seconds,
)


def test_docstring_examples_run() -> None:
    assert doctest.testmod(definitions_module).failed == 0


@pytest.mark.parametrize(
    ("feature", "name"),
    [
        (
            WindowFeature(entity=("card",), agg="sum", field="amount", window="1h"),
            "amount_sum_1h_by_card",
        ),
        (WindowFeature(entity=("card",), agg="count", window="10m"), "tx_count_10m_by_card"),
        (
            WindowFeature(entity=("device",), agg="distinct", field="card_token", window="24h"),
            "card_distinct_24h_by_device",
        ),
        (WindowFeature(entity=("card",), agg="time_since_last"), "time_since_last_by_card"),
        (
            WindowFeature(entity=("merchant",), agg="fraud_rate", window="7d", label_delay="7d"),
            "fraud_rate_7d_by_merchant_delay_7d",
        ),
        (
            WindowFeature(
                entity=("card",), agg="count", window="1h", where=Filter("channel", ("ecommerce",))
            ),
            "tx_count_1h_by_card_where_channel_ecommerce",
        ),
        (Derived("speed_from_previous", entity=("card",)), "speed_from_previous_kmh_by_card"),
        (
            Derived("mismatch", fields=("ip_country", "billing_country")),
            "mismatch_ip_country_billing_country",
        ),
        (PassThrough("V17"), "attr_v17"),
    ],
)
def test_names_derive_from_parameters(feature: object, name: str) -> None:
    assert feature.name == name  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"entity": ("planet",), "agg": "count", "window": "1h"}, "entity"),
        ({"entity": ("card",), "agg": "sum", "window": "1h"}, "needs a field"),
        ({"entity": ("card",), "agg": "sum", "field": "channel", "window": "1h"}, "numeric field"),
        ({"entity": ("card",), "agg": "sum", "field": "amount"}, "needs a window"),
        ({"entity": ("card",), "agg": "sum", "field": "amount", "window": "1 hour"}, "10m, 1h"),
        ({"entity": ("card",), "agg": "count", "window": "1h", "label_delay": "7d"}, "label_delay"),
        ({"entity": ("card",), "agg": "time_since_last", "window": "1h"}, "takes no window"),
    ],
)
def test_invalid_definitions_say_what_is_wrong(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        WindowFeature(**kwargs)  # type: ignore[arg-type]


def test_unknown_aggregation_is_refused() -> None:
    with pytest.raises(ValueError, match="median"):
        WindowFeature(entity=("card",), agg="median", field="amount", window="1h")


def test_windows() -> None:
    assert window_seconds("10m") == 600
    assert window_seconds("24h") == 86_400
    assert window_seconds("30d") == 30 * 86_400


def test_default_set_covers_the_promise_and_round_trips_through_yaml() -> None:
    features = default_feature_set()
    names = set(features.names)
    for expected in (
        "tx_count_1h_by_card",
        "amount_sum_24h_by_ip",
        "amount_zscore_30d_by_customer",
        "speed_from_previous_kmh_by_card",
        "card_distinct_24h_by_device",
        "fraud_rate_30d_by_terminal",
        "mismatch_ip_country_merchant_country",
    ):
        assert expected in names
    again = FeatureSet.from_yaml(features.to_yaml())
    assert again == features and again.version == features.version
    assert features.longest_window_s == 30 * 86_400


def test_version_changes_with_any_definition() -> None:
    base = default_feature_set()
    extended = base.with_definitions(pass_through(ULB_ATTRIBUTES))
    assert extended.version != base.version
    assert "attr_v28" in extended.names


def test_yaml_errors_name_the_feature() -> None:
    with pytest.raises(DefinitionError, match="unknown keys"):
        FeatureSet.from_yaml("features:\n  - {entity: card, agg: count, window: 1h, colour: red}\n")
    with pytest.raises(DefinitionError, match="defined twice"):
        FeatureSet.from_yaml(
            "features:\n  - {entity: card, agg: count, window: 1h}\n"
            "  - {entity: [card], agg: count, window: 1h}\n"
        )
    loaded = FeatureSet.from_yaml(
        "name: mine\nfeatures:\n"
        "  - {entity: card, agg: sum, field: amount, window: 1h,"
        " where: {field: channel, values: [ecommerce, wallet]}}\n"
        "  - {derived: zscore, entity: customer, window: 30d}\n"
        "  - {pass_through: V1}\n"
    )
    assert loaded.names == [
        "amount_sum_1h_by_card_where_channel_ecommerce_or_wallet",
        "amount_zscore_30d_by_customer",
        "attr_v1",
    ]
    assert Aggregation.SUM in {d.agg for d in loaded if isinstance(d, WindowFeature)}
