// The shapes the dashboard reads. Where the OpenAPI document gives a response model, these mirror
// it (see schema.d.ts); several older endpoints answer untyped JSON, described here by hand.

export const OUTCOMES = ["approve", "review", "step_up", "block"] as const;
export type Outcome = (typeof OUTCOMES)[number];

export type Role = "admin" | "analyst" | "viewer" | "service";

export interface Label {
  is_fraud: boolean;
  fraud_type: string | null;
  known_at: string;
}

export interface DecisionView {
  transaction_id: string;
  event_time: string;
  decided_at: string;
  outcome: Outcome;
  risk_score: number;
  model_score: number | null;
  anomaly_score: number | null;
  model_version: string | null;
  ruleset_version: string | null;
  rules_hit: string[];
  shadow_hits: string[];
  reasons: string[];
  latency_ms: Record<string, number>;
  amount: number;
  currency: string;
  merchant_id: string | null;
  merchant_name: string | null;
  merchant_mcc: string | null;
  merchant_country: string | null;
  channel: string | null;
  card_token: string | null;
  card_last4: string | null;
  customer_id: string | null;
  label: Label | null;
  case_id: number | null;
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

export interface DecisionDetail {
  decision: DecisionView;
  transaction: Record<string, string | number | boolean | null>;
  features: Record<string, number | string | boolean | null> | null;
  case_id: number | null;
}

export interface TimelineItem {
  transaction_id: string;
  event_time: string;
  amount: number;
  currency: string;
  merchant_name: string | null;
  merchant_country: string | null;
  channel: string | null;
  outcome: Outcome | null;
  risk_score: number | null;
  label: Label | null;
}

export interface LoginEvent {
  login_id: string;
  event_time: string;
  success: boolean;
  country: string | null;
  device_id: string | null;
  device_type: string | null;
  latitude: number | null;
  longitude: number | null;
}

export interface Summary {
  since: string;
  until: string;
  decisions: number;
  by_outcome: Record<Outcome, number>;
  flagged_rate: number;
  labelled_fraud: number;
  fraud_caught: number;
  fraud_missed: number;
  fraud_caught_amount: number;
  fraud_missed_amount: number;
  blocked_amount: number;
  false_positives: number;
  latency_ms: { p50: number | null; p95: number | null; p99: number | null };
  throughput_per_s: number;
}

export interface GeoItem {
  country: string;
  decisions: number;
  flagged: number;
  blocked: number;
  fraud: number;
  fraud_amount: number;
}

export interface TrendItem {
  start: string;
  decisions: number;
  approve: number;
  review: number;
  step_up: number;
  block: number;
  fraud: number;
  fraud_amount: number;
  blocked_amount: number;
}

export interface BreakdownItem {
  key: string | null;
  decisions: number;
  flagged: number;
  blocked: number;
  fraud: number;
  fraud_rate: number;
  amount: number;
  fraud_amount: number;
}

export interface ModelPerformanceItem {
  start: string;
  model_version: string | null;
  decisions: number;
  labelled: number;
  fraud: number;
  precision: number | null;
  recall: number | null;
  average_precision: number | null;
}

export interface ScoreDistribution {
  edges: number[];
  fraud: number[];
  genuine: number[];
  unlabelled: number[];
  psi: number | null;
  reference: { since: string | null; until: string | null };
}

export interface RuleStat {
  rule: string;
  action: string | null;
  hits: number;
  shadow_hits: number;
  hit_rate: number;
  precision: number | null;
  fraud_caught: number;
}

export interface ModelVersion {
  name: string;
  version: string;
  aliases: string[];
  stage: string | null;
  created_at: string | null;
  metrics: Record<string, number>;
  feature_set_version: string | null;
  data_period: unknown;
}

export interface Models {
  items: ModelVersion[];
  champion: string | null;
  challenger: string | null;
}

export type CaseStatus = "open" | "investigating" | "resolved";
export type Disposition = "fraud" | "legitimate" | "friendly_fraud";

export interface CaseSummary {
  id: number;
  case_key: string;
  status: CaseStatus;
  disposition: Disposition | null;
  priority: number;
  queue: Outcome;
  assignee: string | null;
  max_risk: number;
  total_amount: string;
  currency: string | null;
  decisions: number;
  card_token: string | null;
  customer_id: string | null;
  opened_at: string;
  updated_at: string;
  due_at: string;
  resolved_at: string | null;
  resolved_by: string | null;
  breached: boolean;
}

export interface CaseDetail extends CaseSummary {
  transactions: { transaction_id: string; outcome: Outcome; risk_score: number; event_time: string }[];
  notes: { at: string; author: string; text: string }[];
}

export interface Rule {
  name: string;
  condition: string;
  action: string;
  weight: number;
  shadow: boolean;
  description: string;
}

export interface RuleSet {
  version: number;
  status: string;
  rules: Rule[];
  lists: string[];
  notes: string;
  [more: string]: unknown;
}

export interface Validation {
  valid: boolean;
  problem?: string;
  column?: number | null;
}

export interface Backtest {
  transactions: number;
  labelled: number;
  per_rule: { rule: string; hits: number; precision: number | null; recall: number | null }[];
  total: { hits: number; precision: number | null; recall: number | null };
  changed: {
    count: number;
    examples: { transaction_id: string; stored_outcome: Outcome; new_outcome: Outcome }[];
    by_transition: Record<string, number>;
  };
}

export interface Thresholds {
  review: number;
  step_up: number;
  block: number;
  source?: string;
}

export interface User {
  username: string;
  role: Role;
  [more: string]: unknown;
}
