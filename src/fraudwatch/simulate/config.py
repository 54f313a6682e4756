"""What a simulation is asked for: size, seed, period, world knobs and the fraud scenarios.

Every model rejects unknown fields, so a typo in a YAML/JSON scenario file is an error naming the
field rather than a silently ignored knob. Scenario `rate`s are the expected share of all
transactions that scenario produces; the defaults add up to about 0.5 % fraud.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

_STRICT = ConfigDict(extra="forbid", frozen=True)


DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)


class LabelMix(BaseModel):
    """Who finds a scenario's fraud out (relative weights): drives the label delay."""

    model_config = _STRICT

    chargeback: float = Field(0.5, ge=0)
    customer_report: float = Field(0.3, ge=0)
    analyst: float = Field(0.2, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> LabelMix:
        if self.chargeback + self.customer_report + self.analyst <= 0:
            raise ValueError("at least one label source needs a positive weight")
        return self

    def shares(self) -> tuple[float, float, float]:
        total = self.chargeback + self.customer_report + self.analyst
        return (self.chargeback / total, self.customer_report / total, self.analyst / total)


class CardTesting(BaseModel):
    """Bursts of tiny online payments on a stolen card number, to check it works."""

    model_config = _STRICT

    rate: float = Field(0.0010, ge=0, le=0.2)
    min_attempts: int = Field(3, ge=1)
    max_attempts: int = Field(14, ge=1)
    mean_gap_seconds: float = Field(25.0, gt=0)
    min_amount: float = Field(0.5, gt=0)
    max_amount: float = Field(2.0, gt=0)
    follow_up_probability: float = Field(0.35, ge=0, le=1)
    labels: LabelMix = LabelMix(chargeback=0.3, customer_report=0.3, analyst=0.4)


class StolenCardSpree(BaseModel):
    """A stolen card used many times over hours to days, for resellable goods, far from home."""

    model_config = _STRICT

    rate: float = Field(0.0012, ge=0, le=0.2)
    min_transactions: int = Field(3, ge=1)
    max_transactions: int = Field(14, ge=1)
    mean_gap_hours: float = Field(3.0, gt=0)
    foreign_probability: float = Field(0.5, ge=0, le=1)
    amount_multiplier: float = Field(2.0, gt=0)
    labels: LabelMix = LabelMix(chargeback=0.4, customer_report=0.5, analyst=0.1)


class AccountTakeover(BaseModel):
    """A login from a new device in a new country, then transfers and purchases from it."""

    model_config = _STRICT

    rate: float = Field(0.0005, ge=0, le=0.2)
    max_failed_logins: int = Field(4, ge=0)
    min_transactions: int = Field(1, ge=1)
    max_transactions: int = Field(4, ge=1)
    transfer_probability: float = Field(0.6, ge=0, le=1)
    median_transfer_eur: float = Field(900.0, gt=0)
    labels: LabelMix = LabelMix(chargeback=0.2, customer_report=0.6, analyst=0.2)


class CompromisedTerminal(BaseModel):
    """A skimmed terminal: cards used there during weeks later show fraud elsewhere."""

    model_config = _STRICT

    rate: float = Field(0.0010, ge=0, le=0.2)
    min_window_days: float = Field(7.0, gt=0)
    max_window_days: float = Field(28.0, gt=0)
    min_victims: int = Field(8, ge=1)
    max_victims: int = Field(40, ge=1)
    max_fraud_per_card: int = Field(4, ge=1)
    median_delay_days: float = Field(5.0, gt=0)
    labels: LabelMix = LabelMix(chargeback=0.6, customer_report=0.3, analyst=0.1)


class HighAmount(BaseModel):
    """One purchase far above what the customer usually spends."""

    model_config = _STRICT

    rate: float = Field(0.0003, ge=0, le=0.2)
    min_multiplier: float = Field(8.0, gt=1)
    max_multiplier: float = Field(30.0, gt=1)
    labels: LabelMix = LabelMix(chargeback=0.5, customer_report=0.3, analyst=0.2)


class FriendlyFraud(BaseModel):
    """A genuine online purchase the cardholder later disputes: invisible to features."""

    model_config = _STRICT

    rate: float = Field(0.0005, ge=0, le=0.2)


class Scenarios(BaseModel):
    model_config = _STRICT

    card_testing: CardTesting = CardTesting()
    stolen_card_spree: StolenCardSpree = StolenCardSpree()
    account_takeover: AccountTakeover = AccountTakeover()
    compromised_terminal: CompromisedTerminal = CompromisedTerminal()
    high_amount: HighAmount = HighAmount()
    friendly_fraud: FriendlyFraud = FriendlyFraud()


class LabelTiming(BaseModel):
    """How long each label source takes (lognormal delays); how much legit traffic is reviewed."""

    model_config = _STRICT

    chargeback_median_days: float = Field(18.0, gt=0)
    chargeback_sigma: float = Field(0.6, ge=0)
    report_median_hours: float = Field(30.0, gt=0)
    report_sigma: float = Field(0.9, ge=0)
    analyst_median_minutes: float = Field(120.0, gt=0)
    analyst_sigma: float = Field(1.0, ge=0)
    review_rate: float = Field(0.01, ge=0, le=1)


class Behaviour(BaseModel):
    """Legitimate noise that keeps fraud from being trivially separable."""

    model_config = _STRICT

    transactions_per_customer: float = Field(40.0, gt=0)
    travel_probability: float = Field(0.12, ge=0, le=1)
    new_device_rate: float = Field(0.03, ge=0, le=1)
    new_ip_rate: float = Field(0.10, ge=0, le=1)
    big_ticket_rate: float = Field(0.003, ge=0, le=1)
    logins_per_customer_day: float = Field(0.25, ge=0)


class SimulationConfig(BaseModel):
    """One simulation: same config (seed included) -> byte-identical output."""

    model_config = _STRICT

    transactions: int = Field(10_000, ge=1, le=50_000_000)
    seed: int = Field(0, ge=0)
    start: AwareDatetime = DEFAULT_START
    days: int = Field(30, ge=1, le=366)
    customers: int | None = Field(None, ge=10, description="default: transactions / 40")
    behaviour: Behaviour = Behaviour()
    scenarios: Scenarios = Scenarios()
    labels: LabelTiming = LabelTiming()
    row_group_size: int = Field(131_072, ge=1024)

    def customer_count(self) -> int:
        if self.customers is not None:
            return self.customers
        return max(50, round(self.transactions / self.behaviour.transactions_per_customer))
