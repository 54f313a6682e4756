import { describe, expect, it } from "vitest";
import type { DecisionView } from "../api/types";
import { merge } from "./Live";

const at = (id: string, decided: string): DecisionView => ({
  transaction_id: id,
  event_time: "2026-02-05T10:00:00Z",
  decided_at: decided,
  outcome: "approve",
  risk_score: 0.1,
  rules_hit: [],
  shadow_hits: [],
  reasons: [],
  latency_ms: {},
  amount: 10,
  currency: "EUR",
});

describe("the live list", () => {
  it("keeps the newest decision on top whatever order they arrive in, once each", () => {
    const shown = merge([], [at("a", "2026-11-23T06:00:01Z"), at("b", "2026-11-23T06:00:03Z")]);
    const next = merge(shown, [at("c", "2026-11-23T06:00:02Z"), at("b", "2026-11-23T06:00:03Z"), at("d", "2026-11-23T06:00:04Z")]);
    expect(next.map((d) => d.transaction_id)).toEqual(["d", "b", "c", "a"]);
  });

  it("is capped", () => {
    const many = Array.from({ length: 400 }, (_, i) => at(`t${i}`, new Date(Date.UTC(2026, 10, 23, 6, 0, i)).toISOString()));
    const shown = merge([], many);
    expect(shown).toHaveLength(300);
    expect(shown[0].transaction_id).toBe("t399");
  });
});
