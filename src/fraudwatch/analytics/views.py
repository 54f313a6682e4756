"""The JSON shapes of the dashboard API (pydantic, so they appear in the OpenAPI document the
dashboard's typed client is generated from). Names are a contract: add fields, never rename."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

AS_STORED = (
    "Summed over every currency in the store's amounts as stored (no conversion); "
    "a single-currency deployment reads it in that currency's major unit."
)


class LabelView(BaseModel):
    is_fraud: bool
    fraud_type: str | None = None
    known_at: datetime


class DecisionView(BaseModel):
    transaction_id: str
    event_time: datetime
    decided_at: datetime
    outcome: str = Field(description="approve, review, step_up or block")
    risk_score: float
    model_score: float | None = None
    anomaly_score: float | None = None
    model_version: str | None = None
    ruleset_version: str | None = None
    rules_hit: list[str] = []
    shadow_hits: list[str] = []
    reasons: list[str] = []
    latency_ms: dict[str, float] = {}
    amount: float = Field(description="In the transaction currency's major unit")
    currency: str
    merchant_id: str | None = None
    merchant_name: str | None = None
    merchant_mcc: str | None = None
    merchant_country: str | None = None
    channel: str | None = None
    card_token: str | None = None
    card_last4: str | None = None
    customer_id: str | None = None
    label: LabelView | None = Field(
        default=None, description="The transaction's label known now (the latest known wins)"
    )
    case_id: int | None = None


class DecisionPage(BaseModel):
    items: list[DecisionView]
    next: str | None = Field(description="Pass as `after` for the next page; null: no more")


class TransactionView(BaseModel):
    """A stored transaction without personal data (those stay encrypted)."""

    transaction_id: str
    event_time: datetime
    amount: float
    currency: str
    source: str
    card_bin: str | None = None
    card_last4: str | None = None
    card_token: str | None = None
    customer_id: str | None = None
    account_id: str | None = None
    merchant_id: str | None = None
    merchant_name: str | None = None
    merchant_mcc: str | None = None
    merchant_country: str | None = None
    merchant_city: str | None = None
    channel: str | None = None
    entry_mode: str | None = None
    device_id: str | None = None
    device_type: str | None = None
    billing_country: str | None = None
    shipping_country: str | None = None
    ip_country: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class DecisionDetail(BaseModel):
    decision: DecisionView
    transaction: TransactionView | None
    features: dict[str, float | str | bool | None] | None = Field(
        description="Feature values at decision time (stored for flagged decisions); null: none"
    )
    case_id: int | None = None


class TimelineItem(BaseModel):
    transaction_id: str
    event_time: datetime
    amount: float
    currency: str
    merchant_name: str | None = None
    merchant_country: str | None = None
    channel: str | None = None
    outcome: str | None = None
    risk_score: float | None = None
    label: LabelView | None = None


class TimelinePage(BaseModel):
    items: list[TimelineItem]
    next: str | None


class LoginView(BaseModel):
    login_id: str
    event_time: datetime
    success: bool
    country: str | None = None
    device_id: str | None = None
    device_type: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class LoginPage(BaseModel):
    items: list[LoginView]


# -- aggregates ---------------------------------------------------------------------------------


class Outcomes(BaseModel):
    approve: int = 0
    review: int = 0
    step_up: int = 0
    block: int = 0


class Percentiles(BaseModel):
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


class Summary(BaseModel):
    since: datetime = Field(description="Start of the window (whole hours, inclusive)")
    until: datetime = Field(description="End of the window (whole hours, exclusive)")
    decisions: int
    by_outcome: Outcomes
    flagged_rate: float | None = Field(description="review + step_up + block over decisions")
    labelled_fraud: int
    fraud_caught: int = Field(description="Labelled fraud decided review, step_up or block")
    fraud_missed: int = Field(description="Labelled fraud approved")
    fraud_caught_amount: float = Field(description=AS_STORED)
    fraud_missed_amount: float = Field(description=AS_STORED)
    blocked_amount: float = Field(description=AS_STORED)
    false_positives: int = Field(description="Flagged decisions not labelled fraud")
    latency_ms: Percentiles = Field(description="Total decision latency (5 % buckets)")
    throughput_per_s: float = Field(
        description="Decisions per second over the minute before the newest decision was made"
    )
    rollups_until: datetime | None = Field(
        default=None,
        description="The aggregates hold every decision decided up to this time (they trail "
        "the store while the projector catches up); null: nothing projected yet",
    )


class GeoItem(BaseModel):
    country: str = Field(description="ISO 3166 alpha-2; '' when unknown")
    decisions: int
    flagged: int
    blocked: int
    fraud: int
    fraud_amount: float = Field(description=AS_STORED)


class GeoPage(BaseModel):
    items: list[GeoItem]


class TrendItem(BaseModel):
    start: datetime
    decisions: int
    approve: int
    review: int
    step_up: int
    block: int
    fraud: int
    fraud_amount: float = Field(description=AS_STORED)
    blocked_amount: float = Field(description=AS_STORED)


class TrendPage(BaseModel):
    items: list[TrendItem]


class BreakdownItem(BaseModel):
    key: str = Field(description="The value of the dimension; '' when unknown")
    decisions: int
    flagged: int
    blocked: int
    fraud: int
    fraud_rate: float | None
    amount: float = Field(description=AS_STORED)
    fraud_amount: float = Field(description=AS_STORED)


class BreakdownPage(BaseModel):
    items: list[BreakdownItem]


class ModelPerformanceItem(BaseModel):
    start: datetime
    model_version: str | None = Field(description="null: rules-only decisions")
    decisions: int
    labelled: int
    fraud: int
    precision: float | None = Field(description="Fraud among flagged (review/step_up/block)")
    recall: float | None = Field(description="Flagged among labelled fraud")
    average_precision: float | None = Field(
        description="From risk scores in bins of 0.01; unlabelled counts as genuine"
    )


class ModelPerformancePage(BaseModel):
    items: list[ModelPerformanceItem]


class Window(BaseModel):
    since: datetime
    until: datetime


class ScoreHistogram(BaseModel):
    edges: list[float]
    fraud: list[int]
    genuine: list[int] = Field(description="Labelled legitimate")
    unlabelled: list[int]
    psi: float | None = Field(description="Population stability index against `reference`")
    reference: Window | None


class RuleItem(BaseModel):
    rule: str
    action: str | None = Field(description="From the active rule set, when the rule is in it")
    hits: int
    shadow_hits: int
    hit_rate: float | None
    precision: float | None = Field(description="Labelled fraud among hits (acted on)")
    fraud_caught: int


class RulePage(BaseModel):
    items: list[RuleItem]


class LiveFigures(BaseModel):
    """A model version's decisions in the window, judged by the labels known now."""

    decisions: int
    labelled: int
    fraud: int
    precision: float | None
    recall: float | None
    average_precision: float | None


class DataPeriod(BaseModel):
    start: str | None = None
    end: str | None = None


class ModelItem(BaseModel):
    name: str
    version: int
    aliases: list[str]
    stage: str = Field(description="candidate, shadow, challenger, champion or archived")
    created_at: datetime
    metrics: dict[str, float] = Field(description="As logged by training (roc_auc, ...)")
    feature_set_version: str
    data_period: DataPeriod
    live: LiveFigures | None = Field(
        default=None, description="From the stored decisions of this version (default window)"
    )


class ModelCatalogue(BaseModel):
    items: list[ModelItem]
    champion: int | None
    challenger: int | None


# -- rule backtest ------------------------------------------------------------------------------


class RuleFigures(BaseModel):
    rule: str
    hits: int
    precision: float | None
    recall: float | None


class TotalFigures(BaseModel):
    hits: int = Field(description="Transactions at least one acted-on rule hit")
    precision: float | None
    recall: float | None


class Transition(BaseModel):
    transaction_id: str
    stored_outcome: str
    new_outcome: str


class Changes(BaseModel):
    count: int
    examples: list[Transition] = Field(description="Up to 20, newest first")
    by_transition: dict[str, int] = Field(description='e.g. {"approve->block": 3}')


class BacktestResult(BaseModel):
    transactions: int
    labelled: int = Field(description="Transactions with a fraud label (the rest: genuine)")
    per_rule: list[RuleFigures]
    total: TotalFigures
    changed: Changes = Field(
        description="Decisions the candidate rules would have changed: the policy re-applied "
        "to each stored decision's model risk with the candidate rules' hits"
    )
