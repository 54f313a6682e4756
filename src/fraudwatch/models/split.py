"""The time split: train period (its last part validates), a gap of the label delay, then the
test period. Never random: a model is judged on transactions that happened after everything it
learnt from, with labels known when it was trained."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from fraudwatch.features.rows import micros
from fraudwatch.models.dataset import ModelDataError

DAY = timedelta(days=1)


@dataclass(frozen=True)
class TimeSplit:
    """Half-open periods [start, end) in UTC.

    Training rows: [train_start, validation_start); validation rows (early stopping and
    calibration): [validation_start, train_end). The model is trained when the test period
    starts, so it learns from the labels known by `test_start`; the transactions of the gap
    [train_end, test_start) — one label delay — are not used, since most of their labels are
    not known yet. Test rows: [test_start, test_end), judged with every label known.
    """

    train_start: datetime
    validation_start: datetime
    train_end: datetime
    test_start: datetime
    test_end: datetime

    def __post_init__(self) -> None:
        order = [self.train_start, self.validation_start, self.train_end, self.test_start]
        if not all(a <= b for a, b in itertools.pairwise(order)) or not (
            self.train_start < self.validation_start < self.train_end
            and self.test_start < self.test_end
        ):
            raise ModelDataError(f"periods out of order: {self.as_dict()}")

    @classmethod
    def from_days(
        cls,
        train_start: date | datetime,
        train_days: float,
        delay_days: float,
        test_days: float,
        validation_fraction: float = 0.2,
    ) -> TimeSplit:
        start = _as_datetime(train_start)
        train_end = start + train_days * DAY
        validation_start = train_end - max(validation_fraction * train_days, 1 / 24) * DAY
        test_start = train_end + delay_days * DAY
        return cls(start, validation_start, train_end, test_start, test_start + test_days * DAY)

    @classmethod
    def default_for(
        cls,
        first_us: int,
        last_us: int,
        *,
        train_days: float | None = None,
        delay_days: float | None = None,
        test_days: float | None = None,
        train_start: date | datetime | None = None,
    ) -> TimeSplit:
        """Periods that fit the data: whatever is not given is derived from its span (test =
        the last 20 %, delay = 10 % capped at 7 days, train = everything before)."""
        start = _as_datetime(train_start) if train_start else _floor_day(first_us)
        last = datetime.fromtimestamp(last_us / 1e6, UTC) + timedelta(microseconds=1)
        span = (last - start) / DAY
        if span <= 0:
            raise ModelDataError("the data ends before the train period starts")
        whole = math.ceil(span) if span >= 5 else span  # whole days when there are enough
        test = test_days if test_days is not None else _days(whole * 0.2, whole >= 5)
        delay = delay_days if delay_days is not None else _days(min(7.0, whole * 0.1), whole >= 5)
        train = train_days if train_days is not None else whole - test - delay
        if train <= 0:
            raise ModelDataError(f"no room for a train period in {span:.1f} days of data")
        return cls.from_days(start, train, delay, test)

    def masks(self, ts_us: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boolean masks (train, validation, test) over transaction times in µs."""
        b = [micros(t) for t in (self.train_start, self.validation_start, self.train_end)]
        test = (ts_us >= micros(self.test_start)) & (ts_us < micros(self.test_end))
        return (ts_us >= b[0]) & (ts_us < b[1]), (ts_us >= b[1]) & (ts_us < b[2]), test

    @property
    def label_cutoff_us(self) -> int:
        """Training labels are those known by this time (µs): the start of the test period."""
        return micros(self.test_start)

    def as_dict(self) -> dict[str, str]:
        return {
            name: value.isoformat()
            for name, value in (
                ("train_start", self.train_start),
                ("validation_start", self.validation_start),
                ("train_end", self.train_end),
                ("test_start", self.test_start),
                ("test_end", self.test_end),
            )
        }

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> TimeSplit:
        return cls(**{k: datetime.fromisoformat(v) for k, v in data.items()})


def _as_datetime(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _floor_day(us: int) -> datetime:
    moment = datetime.fromtimestamp(us / 1e6, UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def _days(value: float, whole: bool) -> float:
    return float(max(1, round(value))) if whole else value
