"""Compile a `FeatureSet` into per-entity plans the online engine runs without per-feature dispatch.

Features are grouped by (entity, filter): each event touches each group's key state once, and all
windows of a group are advanced in one pass. A window (length, label delay) gets one
`WindowSpec` listing the accumulators its features need (sums per numeric field, value counts
per categorical field, min/max queues, an hour histogram, a home position), so two features on the
same window share them. Outputs are closures over those accumulators, one per feature column.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fraudwatch.features.definitions import (
    Aggregation,
    Derived,
    DerivedKind,
    FeatureSet,
    Filter,
    PassThrough,
    WindowFeature,
    window_seconds,
)
from fraudwatch.features.rows import ENTITY_FIELD, ROW_FIELD

MICROS = 1_000_000
#: numeric row field -> divisor giving the feature's unit (`hour` stays 0-23)
SCALE = {"amount": 1e6, "lat": 1e6, "lon": 1e6, "hour": 1.0}


@dataclass
class WindowSpec:
    """One window of a group: `(ts - delay - width, ts - delay]` and what to accumulate in it."""

    width_us: int
    delay_us: int = 0
    sums: set[str] = field(default_factory=set)  # numeric row fields: count, sum, sum of squares
    counts: set[str] = field(default_factory=set)  # categorical row fields: value -> count
    mins: set[str] = field(default_factory=set)
    maxs: set[str] = field(default_factory=set)
    hours: bool = False
    home: bool = False


@dataclass(frozen=True)
class Output:
    """One feature column computed from a group's state: `kind` and its parameters."""

    column: int
    kind: str  # an Aggregation or DerivedKind value
    window: int = -1  # index into the group's windows, -1 for look-backs without a window
    row_field: str | None = None
    definition: WindowFeature | Derived | None = None  # for the out-of-order (naive) path


@dataclass
class Group:
    """The features of one (entity, filter): the key fields, windows and outputs."""

    index: int
    entity: tuple[str, ...]
    where: Filter | None
    key_fields: tuple[str, ...]
    windows: list[WindowSpec] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    labels: bool = False  # some window counts fraud labels
    retention_us: int = 0  # how far back events are kept (longest window + delay)

    def window(self, width_us: int, delay_us: int = 0) -> int:
        """Index of the window (width, delay), created on first use."""
        for index, spec in enumerate(self.windows):
            if (spec.width_us, spec.delay_us) == (width_us, delay_us):
                return index
        self.windows.append(WindowSpec(width_us, delay_us))
        self.retention_us = max(self.retention_us, width_us + delay_us)
        return len(self.windows) - 1


@dataclass
class Plan:
    """The compiled feature set: groups, stateless columns and the horizon."""

    names: list[str]
    horizon_us: int
    groups: list[Group]
    mismatches: list[tuple[int, str, str]]  # column, row field a, row field b
    pass_through: list[tuple[int, str, float | None]]  # column, attribute, default


def compile_plan(feature_set: FeatureSet) -> Plan:
    """Group the definitions and register their accumulators."""
    horizon_us = feature_set.longest_window_s * MICROS
    groups: dict[tuple[tuple[str, ...], Filter | None], Group] = {}
    plan = Plan(feature_set.names, horizon_us, [], [], [])

    def group_of(entity: tuple[str, ...], where: Filter | None) -> Group:
        if (entity, where) not in groups:
            keys = tuple(ENTITY_FIELD[name] for name in entity)
            groups[(entity, where)] = Group(len(groups), entity, where, keys)
        return groups[(entity, where)]

    for column, feature in enumerate(feature_set):
        if isinstance(feature, PassThrough):
            plan.pass_through.append((column, feature.attribute, feature.default))
        elif isinstance(feature, Derived):
            if feature.derived_kind is DerivedKind.MISMATCH:
                a, b = (ROW_FIELD[name] for name in feature.fields)
                plan.mismatches.append((column, a, b))
            else:
                _add_derived(group_of(feature.entity, None), column, feature)
        else:
            _add_window(group_of(feature.entity, feature.where), column, feature, horizon_us)
    plan.groups = list(groups.values())
    return plan


def _add_window(group: Group, column: int, feature: WindowFeature, horizon_us: int) -> None:
    agg = feature.aggregation
    row_field = ROW_FIELD[feature.field] if feature.field else None
    if agg in (Aggregation.LAST, Aggregation.TIME_SINCE_LAST):
        group.outputs.append(Output(column, agg.value, -1, row_field, feature))
        return
    width = (feature.window_s * MICROS) if feature.window_s else horizon_us
    delay = window_seconds(feature.label_delay) * MICROS if feature.label_delay else 0
    index = group.window(width, delay)
    spec = group.windows[index]
    if agg in (Aggregation.FRAUD_COUNT, Aggregation.FRAUD_RATE):
        group.labels = True
    elif agg in (Aggregation.DISTINCT, Aggregation.FIRST_SEEN):
        assert row_field is not None
        spec.counts.add(row_field)
    elif agg is Aggregation.MIN:
        assert row_field is not None
        spec.mins.add(row_field)
    elif agg is Aggregation.MAX:
        assert row_field is not None
        spec.maxs.add(row_field)
    elif agg is not Aggregation.COUNT:
        assert row_field is not None
        spec.sums.add(row_field)
    group.outputs.append(Output(column, agg.value, index, row_field, feature))


def _add_derived(group: Group, column: int, feature: Derived) -> None:
    kind = feature.derived_kind
    if feature.window_s is None:  # previous-event geo: no window
        group.outputs.append(Output(column, kind.value, definition=feature))
        return
    index = group.window(feature.window_s * MICROS)
    spec = group.windows[index]
    if kind is DerivedKind.ZSCORE:
        spec.sums.add("amount")
    elif kind is DerivedKind.HOUR_DEVIATION:
        spec.hours = True
    else:
        spec.home = True
    group.outputs.append(Output(column, kind.value, index, definition=feature))
