import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { api } from "../api/client";
import type { DecisionDetail as Detail } from "../api/types";
import { label, money, ms, score, when } from "../lib/format";
import { Drawer } from "./Drawer";
import { KeyValues, OutcomeBadge, QueryState, ScoreBar } from "./ui";

export function useDecisionDetail(transactionId: string | null) {
  return useQuery({
    queryKey: ["decision-detail", transactionId],
    queryFn: ({ signal }) => api.get<Detail>("/v1/decisions/{transaction_id}/detail", { params: { transaction_id: transactionId! }, signal }),
    enabled: transactionId !== null,
  });
}

function show(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(4);
  return String(value);
}

export function DecisionBody({ detail }: { detail: Detail }) {
  const d = detail.decision;
  const tx = detail.transaction;
  const features = detail.features ? Object.entries(detail.features).sort(([a], [b]) => a.localeCompare(b)) : [];
  return (
    <div className="detail">
      <div className="detail-head">
        <OutcomeBadge outcome={d.outcome} />
        <span className="amount-big">{money(d.amount, d.currency)}</span>
        <ScoreBar value={d.risk_score} outcome={d.outcome} />
        {detail.case_id != null && (
          <Link className="button subtle small" to={`/cases/${detail.case_id}`}>
            Case #{detail.case_id}
          </Link>
        )}
      </div>
      <h3>Reasons</h3>
      {d.reasons.length ? (
        <ul className="reasons">
          {d.reasons.map((r) => (
            <li key={r}>{r}</li>
          ))}
        </ul>
      ) : (
        <p className="muted">No reasons: reasons are computed for flagged decisions only.</p>
      )}
      <h3>Rules hit</h3>
      <div className="rule-tags">
        {d.rules_hit.map((r) => (
          <span key={r} className="tag">{r}</span>
        ))}
        {d.shadow_hits.map((r) => (
          <span key={r} className="tag shadow" title="shadow rule: recorded, not applied">{r} (shadow)</span>
        ))}
        {!d.rules_hit.length && !d.shadow_hits.length && <span className="muted">none</span>}
      </div>
      <h3>Decision</h3>
      <KeyValues
        entries={[
          ["Transaction", <code key="t">{d.transaction_id}</code>],
          ["Event time", when(d.event_time)],
          ["Decided", when(d.decided_at)],
          ["Risk / model / anomaly", `${score(d.risk_score)} / ${score(d.model_score)} / ${score(d.anomaly_score)}`],
          ["Model", d.model_version ?? "rules only"],
          ["Rule set", d.ruleset_version ?? "starter set"],
          ["Latency", ms(d.latency_ms.total)],
          ["Label", d.label ? `${d.label.is_fraud ? "fraud" : "genuine"}${d.label.fraud_type && d.label.fraud_type !== "fraud" ? ` · ${label(d.label.fraud_type)}` : ""} (${when(d.label.known_at)})` : "not labelled"],
        ]}
      />
      <h3>Transaction</h3>
      {tx ? <KeyValues entries={Object.entries(tx).filter(([, v]) => v !== null && v !== "").map(([k, v]) => [label(k), show(v)])} /> : <p className="muted">The transaction is not stored.</p>}
      <h3>Features at decision time</h3>
      {features.length ? (
        <table className="grid compact">
          <tbody>
            {features.map(([name, value]) => (
              <tr key={name}>
                <td className="mono">{name}</td>
                <td className="num">{show(value)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted">Not stored for this decision (features are kept for review, step-up and block decisions).</p>
      )}
    </div>
  );
}

export function DecisionDrawer({ transactionId, onClose }: { transactionId: string; onClose: () => void }) {
  const query = useDecisionDetail(transactionId);
  return (
    <Drawer title={`Decision ${transactionId}`} onClose={onClose}>
      <QueryState query={query} what="the decision">
        {(detail) => <DecisionBody detail={detail} />}
      </QueryState>
    </Drawer>
  );
}
