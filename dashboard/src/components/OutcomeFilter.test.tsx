import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it } from "vitest";
import type { DecisionView, Outcome } from "../api/types";
import { NO_FILTERS, matches, toQuery } from "../lib/filters";
import { OutcomeFilter } from "./OutcomeFilter";

function Harness({ onChange }: { onChange: (v: Outcome[]) => void }) {
  const [value, setValue] = useState<Outcome[]>([]);
  return (
    <OutcomeFilter
      value={value}
      onChange={(v) => {
        setValue(v);
        onChange(v);
      }}
    />
  );
}

const decision = (outcome: Outcome, extra: Partial<DecisionView> = {}): DecisionView => ({
  transaction_id: `tx-${outcome}`,
  event_time: "2026-03-01T10:00:00Z",
  decided_at: "2026-03-01T10:00:00Z",
  outcome,
  risk_score: 0.5,
  rules_hit: [],
  shadow_hits: [],
  reasons: [],
  latency_ms: {},
  amount: 120,
  currency: "EUR",
  merchant_id: "m-1",
  merchant_name: "Corner Books",
  merchant_country: "DE",
  ...extra,
});

describe("OutcomeFilter", () => {
  it("toggles outcomes in policy order and clears back to all", async () => {
    const seen: Outcome[][] = [];
    render(<Harness onChange={(v) => seen.push(v)} />);
    const user = userEvent.setup();
    await user.click(screen.getByRole("button", { name: /block/ }));
    await user.click(screen.getByRole("button", { name: /review/ }));
    expect(seen.at(-1)).toEqual(["review", "block"]);
    expect(screen.getByRole("button", { name: /block/ })).toHaveAttribute("aria-pressed", "true");
    expect(screen.getByRole("button", { name: /approve/ })).toHaveAttribute("aria-pressed", "false");
    await user.click(screen.getByRole("button", { name: /block/ }));
    expect(seen.at(-1)).toEqual(["review"]);
    await user.click(screen.getByRole("button", { name: "all" }));
    expect(seen.at(-1)).toEqual([]);
  });
});

describe("decision filters", () => {
  it("become the API's query parameters", () => {
    expect(toQuery({ ...NO_FILTERS, outcomes: ["review", "block"], minScore: "0.7", country: "de", merchant: " Corner " })).toEqual({
      outcome: ["review", "block"],
      min_score: 0.7,
      min_amount: undefined,
      max_amount: undefined,
      merchant: "Corner",
      country: "DE",
      scenario: undefined,
    });
    expect(toQuery({ ...NO_FILTERS, minAmount: "abc" }).min_amount).toBeUndefined();
  });

  it("apply to rows already shown as the server applies them", () => {
    const rows = [decision("approve"), decision("block", { risk_score: 0.95, amount: 900 }), decision("review", { merchant_country: "FR" })];
    const kept = (f: Partial<typeof NO_FILTERS>) => rows.filter((d) => matches(d, { ...NO_FILTERS, ...f })).map((d) => d.outcome);
    expect(kept({})).toEqual(["approve", "block", "review"]);
    expect(kept({ outcomes: ["block", "review"] })).toEqual(["block", "review"]);
    expect(kept({ minScore: "0.9" })).toEqual(["block"]);
    expect(kept({ maxAmount: "500" })).toEqual(["approve", "review"]);
    expect(kept({ country: "fr" })).toEqual(["review"]);
    expect(kept({ merchant: "corner" })).toEqual(["approve", "block", "review"]);
    expect(kept({ merchant: "m-2" })).toEqual([]);
  });
});
