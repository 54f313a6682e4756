"""Declarative feature definitions: what a feature is, independent of how an engine computes it.

A `WindowFeature` aggregates one field of the events of one entity (or entity pair) over a time
window, optionally filtered; its name is derived from its parameters, so the same definition has
the same name everywhere (`amount_sum_1h_by_card`,
`tx_count_24h_by_device_where_channel_ecommerce`).
A `PassThrough` exposes a source attribute that has no entity history (ULB's V1..V28). A
`FeatureSet` is a versioned list of both: its version is a digest of the canonical definitions,
so a model can record exactly which definitions it was trained with.

Window semantics (both engines): the value at event time t covers exactly the events of the entity
in (t - window, t], the current event included. Label-aware aggregations count a transaction as
fraud only if its label was known at t (`known_at <= t`), optionally shifted by `label_delay`.

    >>> WindowFeature(entity=("card",), field="amount", agg="sum", window="1h").name
    'amount_sum_1h_by_card'
    >>> WindowFeature(entity=("customer", "merchant"), agg="count", window="7d").name
    'tx_count_7d_by_customer_x_merchant'
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml

from fraudwatch.errors import FraudwatchError


class DefinitionError(FraudwatchError):
    """A feature definition is invalid; the message names the feature and the problem."""

    code = "bad_feature_definition"


class Aggregation(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MEAN = "mean"
    STD = "std"
    MIN = "min"
    MAX = "max"
    DISTINCT = "distinct"
    LAST = "last"
    TIME_SINCE_LAST = "time_since_last"
    FIRST_SEEN = "first_seen"
    RATIO_TO_MEAN = "ratio_to_mean"
    FRAUD_COUNT = "fraud_count"
    FRAUD_RATE = "fraud_rate"


#: entity name -> flat canonical column (see `fraudwatch.events.flat`) that keys it
ENTITIES: dict[str, str] = {
    "card": "card_token",
    "customer": "customer_id",
    "account": "account_id",
    "merchant": "merchant_id",
    "terminal": "terminal_id",
    "device": "device_id",
    "ip": "ip_address",
    "mcc": "merchant_mcc",
}

#: numeric fields a window aggregation may read
NUMERIC_FIELDS = frozenset({"amount", "latitude", "longitude", "hour_of_day"})
#: fields whose values are counted (distinct, first_seen) or compared (filters)
CATEGORICAL_FIELDS = frozenset(
    {*ENTITIES.values(), "currency", "channel", "entry_mode", "merchant_country", "billing_country",
     "shipping_country", "ip_country", "source"}
)  # fmt: skip

# aggregations that need no field (they count events or look at labels / time)
_FIELDLESS = {
    Aggregation.COUNT, Aggregation.TIME_SINCE_LAST, Aggregation.FRAUD_COUNT, Aggregation.FRAUD_RATE,
}  # fmt: skip
_CATEGORICAL_AGGS = {Aggregation.DISTINCT, Aggregation.FIRST_SEEN, Aggregation.LAST}
# aggregations whose value does not depend on a window length
_WINDOWLESS = {Aggregation.TIME_SINCE_LAST, Aggregation.FIRST_SEEN, Aggregation.LAST}

_WINDOW = re.compile(r"^(?P<count>[1-9]\d*)(?P<unit>[smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_SLUG = re.compile(r"[^a-z0-9]+")


def window_seconds(text: str) -> int:
    """`"10m"` -> 600, `"24h"` -> 86400, `"30d"` -> 2592000."""
    match = _WINDOW.match(text)
    if match is None:
        raise DefinitionError(f"window {text!r} must look like 10m, 1h, 24h, 7d or 30d")
    return int(match["count"]) * _UNIT_SECONDS[match["unit"]]


@dataclass(frozen=True, slots=True)
class Filter:
    """Keep only the events whose `field` equals (or is one of) `values`."""

    field: str
    values: tuple[str, ...]
    op: Literal["in", "not_in"] = "in"

    def __post_init__(self) -> None:
        if self.field not in CATEGORICAL_FIELDS:
            raise DefinitionError(
                f"filter field {self.field!r} is not one of {sorted(CATEGORICAL_FIELDS)}"
            )
        if not self.values:
            raise DefinitionError(f"filter on {self.field!r} needs at least one value")

    @property
    def slug(self) -> str:
        values = "_or_".join(_SLUG.sub("_", value.lower()).strip("_") for value in self.values)
        negation = "not_" if self.op == "not_in" else ""
        return f"{self.field}_{negation}{values}"

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "op": self.op, "values": list(self.values)}


@dataclass(frozen=True, slots=True)
class WindowFeature:
    """An aggregation of one entity's events over a time window."""

    entity: tuple[str, ...]
    agg: Aggregation | str
    field: str | None = None
    window: str | None = None
    where: Filter | None = None
    label_delay: str | None = None
    name_override: str | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "agg", Aggregation(self.agg))
        object.__setattr__(self, "entity", tuple(self.entity))
        self._check()

    def _check(self) -> None:
        who = self.name_override or f"{self.agg} by {'x'.join(self.entity)}"
        if not self.entity or any(part not in ENTITIES for part in self.entity):
            raise DefinitionError(f"{who}: entity {self.entity} must be made of {sorted(ENTITIES)}")
        agg = Aggregation(self.agg)
        if agg in _FIELDLESS:
            if self.field not in (None, "amount") and agg is not Aggregation.COUNT:
                raise DefinitionError(f"{who}: {agg} takes no field")
        elif self.field is None:
            raise DefinitionError(f"{who}: {agg} needs a field")
        elif agg in _CATEGORICAL_AGGS:
            if self.field not in CATEGORICAL_FIELDS | NUMERIC_FIELDS:
                raise DefinitionError(f"{who}: unknown field {self.field!r}")
        elif self.field not in NUMERIC_FIELDS:
            raise DefinitionError(f"{who}: {agg} needs a numeric field, not {self.field!r}")
        if agg in _WINDOWLESS:
            if self.window is not None and agg is not Aggregation.FIRST_SEEN:
                raise DefinitionError(f"{who}: {agg} takes no window")
        elif self.window is None:
            raise DefinitionError(f"{who}: {agg} needs a window")
        if self.window is not None:
            window_seconds(self.window)
        if self.label_delay is not None:
            if agg not in (Aggregation.FRAUD_COUNT, Aggregation.FRAUD_RATE):
                raise DefinitionError(
                    f"{who}: label_delay applies to fraud_count and fraud_rate only"
                )
            window_seconds(self.label_delay)

    @property
    def aggregation(self) -> Aggregation:
        return Aggregation(self.agg)

    @property
    def window_s(self) -> int | None:
        return window_seconds(self.window) if self.window else None

    @property
    def name(self) -> str:
        if self.name_override:
            return self.name_override
        agg = self.aggregation
        by = "_by_" + "_x_".join(self.entity)
        window = f"_{self.window}" if self.window else ""
        if agg is Aggregation.COUNT:
            stem = f"tx_count{window}"
        elif agg in (Aggregation.FRAUD_COUNT, Aggregation.FRAUD_RATE, Aggregation.TIME_SINCE_LAST):
            stem = f"{agg.value}{window}"
        else:
            stem = f"{_short(self.field)}_{agg.value}{window}"
        delay = f"_delay_{self.label_delay}" if self.label_delay else ""
        where = f"_where_{self.where.slug}" if self.where else ""
        return stem + by + delay + where

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"entity": list(self.entity), "agg": self.aggregation.value}
        for key in ("field", "window", "label_delay"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.where is not None:
            data["where"] = self.where.as_dict()
        if self.name_override:
            data["name"] = self.name_override
        return data


def _short(field: str | None) -> str:
    """`card_token` -> `card`, `merchant_id` -> `merchant` (names stay readable)."""
    assert field is not None
    for entity, column in ENTITIES.items():
        if field == column:
            return entity
    return field


@dataclass(frozen=True, slots=True)
class PassThrough:
    """A numeric source attribute used as it is (no entity history), e.g. ULB's `V1`."""

    attribute: str
    default: float | None = None

    @property
    def name(self) -> str:
        return f"attr_{_SLUG.sub('_', self.attribute.lower()).strip('_')}"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"pass_through": self.attribute}
        if self.default is not None:
            data["default"] = self.default
        return data


class DerivedKind(StrEnum):
    """Features computed from an entity's state and the current event, beyond one aggregation."""

    ZSCORE = "zscore"  # (value - window mean) / window std of the entity
    HOUR_DEVIATION = "hour_deviation"  # circular distance in hours from the entity's usual hour
    DISTANCE_FROM_PREVIOUS = "distance_from_previous"  # km from the entity's previous event
    SPEED_FROM_PREVIOUS = "speed_from_previous"  # km/h implied by that distance and time
    DISTANCE_FROM_HOME = "distance_from_home"  # km from the entity's mean position in the window
    MISMATCH = "mismatch"  # 1.0 when two country fields differ, 0.0 when equal, NaN if unknown


_GEO_KINDS = {
    DerivedKind.DISTANCE_FROM_PREVIOUS,
    DerivedKind.SPEED_FROM_PREVIOUS,
    DerivedKind.DISTANCE_FROM_HOME,
}
_COUNTRY_FIELDS = frozenset(
    {"ip_country", "billing_country", "shipping_country", "merchant_country"}
)


@dataclass(frozen=True, slots=True)
class Derived:
    """A derived feature of one kind; `fields` names the two countries of a `mismatch`."""

    kind: DerivedKind | str
    entity: tuple[str, ...] = ()
    window: str | None = None
    fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        kind = DerivedKind(self.kind)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "entity", tuple(self.entity))
        object.__setattr__(self, "fields", tuple(self.fields))
        if kind is DerivedKind.MISMATCH:
            if len(self.fields) != 2 or not set(self.fields) <= _COUNTRY_FIELDS:
                raise DefinitionError(f"mismatch compares two of {sorted(_COUNTRY_FIELDS)}")
            return
        if len(self.entity) != 1 or self.entity[0] not in ENTITIES:
            raise DefinitionError(f"{kind}: needs one entity of {sorted(ENTITIES)}")
        needs_window = kind in (
            DerivedKind.ZSCORE, DerivedKind.HOUR_DEVIATION, DerivedKind.DISTANCE_FROM_HOME
        )  # fmt: skip
        if needs_window != (self.window is not None):
            raise DefinitionError(f"{kind}: {'needs' if needs_window else 'takes no'} window")
        if self.window is not None:
            window_seconds(self.window)

    @property
    def derived_kind(self) -> DerivedKind:
        return DerivedKind(self.kind)

    @property
    def window_s(self) -> int | None:
        return window_seconds(self.window) if self.window else None

    @property
    def name(self) -> str:
        kind = self.derived_kind
        if kind is DerivedKind.MISMATCH:
            return f"mismatch_{self.fields[0]}_{self.fields[1]}"
        unit = (
            "_kmh"
            if kind is DerivedKind.SPEED_FROM_PREVIOUS
            else "_km"
            if kind in _GEO_KINDS
            else ""
        )
        stem = "amount_zscore" if kind is DerivedKind.ZSCORE else kind.value
        window = f"_{self.window}" if self.window else ""
        return f"{stem}{unit}{window}_by_{self.entity[0]}"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"derived": self.derived_kind.value}
        if self.entity:
            data["entity"] = list(self.entity)
        if self.window:
            data["window"] = self.window
        if self.fields:
            data["fields"] = list(self.fields)
        return data


Definition = WindowFeature | PassThrough | Derived


@dataclass(frozen=True)
class FeatureSet:
    """A named, versioned list of feature definitions; names must be unique."""

    name: str
    definitions: tuple[Definition, ...]

    def __post_init__(self) -> None:
        seen: dict[str, Definition] = {}
        for definition in self.definitions:
            if definition.name in seen:
                raise DefinitionError(
                    f"feature set {self.name!r}: {definition.name!r} is defined twice"
                )
            seen[definition.name] = definition

    def __iter__(self) -> Iterator[Definition]:
        return iter(self.definitions)

    def __len__(self) -> int:
        return len(self.definitions)

    @cached_property
    def _names(self) -> tuple[str, ...]:
        return tuple(definition.name for definition in self.definitions)

    @property
    def names(self) -> list[str]:
        """The feature names in order (derived once: deriving a name is not free)."""
        return list(self._names)

    @property
    def version(self) -> str:
        """12 hex digits of SHA-256 over the canonical definitions: same set, same version."""
        canonical = json.dumps(self.as_dict()["features"], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def longest_window_s(self) -> int:
        windows = [
            d.window_s for d in self.definitions if not isinstance(d, PassThrough) and d.window_s
        ]
        delays = [
            window_seconds(d.label_delay)
            for d in self.definitions
            if isinstance(d, WindowFeature) and d.label_delay
        ]
        return max(windows, default=0) + max(delays, default=0)

    def with_definitions(
        self, extra: Iterable[Definition], *, name: str | None = None
    ) -> FeatureSet:
        return FeatureSet(name or self.name, (*self.definitions, *extra))

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "features": [d.as_dict() for d in self.definitions]}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.as_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSet:
        if not isinstance(data, Mapping) or "features" not in data:
            raise DefinitionError("a feature set needs a `features:` list")
        return cls(
            str(data.get("name", "custom")), tuple(_parse(item) for item in data["features"])
        )

    @classmethod
    def from_yaml(cls, text: str) -> FeatureSet:
        return cls.from_dict(yaml.safe_load(text))

    @classmethod
    def load(cls, path: Path) -> FeatureSet:
        return cls.from_yaml(path.read_text(encoding="utf-8"))


_KEYS = {"entity", "agg", "field", "window", "where", "label_delay", "name"}


def _parse(item: Any) -> Definition:
    if not isinstance(item, Mapping):
        raise DefinitionError(f"a feature must be a mapping, got {item!r}")
    if "pass_through" in item:
        return PassThrough(str(item["pass_through"]), item.get("default"))
    if "derived" in item:
        entity = item.get("entity") or ()
        try:
            return Derived(
                kind=str(item["derived"]),
                entity=(entity,) if isinstance(entity, str) else tuple(entity),
                window=item.get("window"),
                fields=tuple(item.get("fields") or ()),
            )
        except ValueError as exc:
            raise DefinitionError(f"feature {dict(item)}: {exc}") from None
    unknown = set(item) - _KEYS
    if unknown:
        raise DefinitionError(f"feature {dict(item)}: unknown keys {sorted(unknown)}")
    entity = item.get("entity")
    entities = (entity,) if isinstance(entity, str) else tuple(entity or ())
    where = item.get("where")
    try:
        return WindowFeature(
            entity=entities,
            agg=str(item.get("agg")),
            field=item.get("field"),
            window=item.get("window"),
            where=_filter(where) if where is not None else None,
            label_delay=item.get("label_delay"),
            name_override=item.get("name"),
        )
    except ValueError as exc:
        raise DefinitionError(f"feature {dict(item)}: {exc}") from None


def _filter(data: Any) -> Filter:
    if not isinstance(data, Mapping) or "field" not in data:
        raise DefinitionError(f"a filter needs a field and values, got {data!r}")
    values = data.get("values", data.get("value"))
    values = (values,) if isinstance(values, str) else tuple(str(v) for v in values or ())
    op = data.get("op", "in")
    if op not in ("in", "not_in"):
        raise DefinitionError(f"filter op must be 'in' or 'not_in', got {op!r}")
    return Filter(str(data["field"]), values, op)
