import type { components } from "./schema";

// The shapes the dashboard reads. Where the OpenAPI document gives a response model, these mirror
// it (see schema.d.ts); several older endpoints answer untyped JSON, described here by hand.

export const OUTCOMES = ["approve", "review", "step_up", "block"] as const;
export type Outcome = (typeof OUTCOMES)[number];

export type Role = "admin" | "analyst" | "viewer" | "service";

type S = components["schemas"];

/** The generated view with its outcome narrowed to the four the policy gives. */
type WithOutcome<T, K extends keyof T> = Omit<T, K> & { [P in K]: Outcome };

export type Label = S["LabelView"];
export type DecisionView = WithOutcome<S["DecisionView"], "outcome">;
export type DecisionDetail = Omit<S["DecisionDetail"], "decision"> & { decision: DecisionView };
export type TimelineItem = Omit<S["TimelineItem"], "outcome"> & { outcome?: Outcome | null };
export type LoginEvent = S["LoginView"];
export type Summary = Omit<S["Summary"], "by_outcome"> & { by_outcome: Record<Outcome, number> };
export type GeoItem = S["GeoItem"];
export type TrendItem = S["TrendItem"];
export type BreakdownItem = S["BreakdownItem"];
export type ModelPerformanceItem = S["ModelPerformanceItem"];
export type ScoreDistribution = S["ScoreHistogram"];
export type RuleStat = S["RuleItem"];

export interface Page<T> {
  items: T[];
  next: string | null;
}

export type ModelVersion = S["ModelItem"];
export type Models = S["ModelCatalogue"];

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

export type Backtest = S["BacktestResult"];

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
