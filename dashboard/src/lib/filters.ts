// Decision filters: one shape for the search query, the stream query and rows already shown.
import type { DecisionView, Outcome } from "../api/types";
import type { Query } from "../api/client";

export interface DecisionFilters {
  outcomes: Outcome[];
  minScore: string;
  minAmount: string;
  maxAmount: string;
  merchant: string;
  country: string;
  scenario: string;
}

export const NO_FILTERS: DecisionFilters = { outcomes: [], minScore: "", minAmount: "", maxAmount: "", merchant: "", country: "", scenario: "" };

function num(text: string): number | undefined {
  const value = Number(text);
  return text.trim() === "" || !Number.isFinite(value) ? undefined : value;
}

export function toQuery(f: DecisionFilters): Query {
  return {
    outcome: f.outcomes.length ? f.outcomes : undefined,
    min_score: num(f.minScore),
    min_amount: num(f.minAmount),
    max_amount: num(f.maxAmount),
    merchant: f.merchant.trim() || undefined,
    country: f.country.trim().toUpperCase() || undefined,
    scenario: f.scenario.trim() || undefined,
  };
}

/** The same filters applied in the browser (to rows received before a filter changed). */
export function matches(d: DecisionView, f: DecisionFilters): boolean {
  if (f.outcomes.length && !f.outcomes.includes(d.outcome)) return false;
  const minScore = num(f.minScore);
  if (minScore !== undefined && d.risk_score < minScore) return false;
  const minAmount = num(f.minAmount);
  if (minAmount !== undefined && d.amount < minAmount) return false;
  const maxAmount = num(f.maxAmount);
  if (maxAmount !== undefined && d.amount > maxAmount) return false;
  const merchant = f.merchant.trim().toLowerCase();
  if (merchant && d.merchant_id?.toLowerCase() !== merchant && !(d.merchant_name ?? "").toLowerCase().startsWith(merchant)) return false;
  const country = f.country.trim().toUpperCase();
  if (country && d.merchant_country !== country) return false;
  const scenario = f.scenario.trim();
  if (scenario && d.label?.fraud_type !== scenario) return false;
  return true;
}
