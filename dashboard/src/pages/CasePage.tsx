import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router-dom";
import { ApiError, api } from "../api/client";
import type { CaseDetail, Disposition, LoginEvent, Page, TimelineItem } from "../api/types";
import { Can, useSession } from "../auth/session";
import { DecisionBody, DecisionDrawer, useDecisionDetail } from "../components/DecisionDetail";
import { ErrorState, KeyValues, OutcomeBadge, Panel, QueryState, ScoreBar, Tabs } from "../components/ui";
import { clock, label, money, relative, when } from "../lib/format";

const DISPOSITIONS: { value: Disposition; label: string; tone: string }[] = [
  { value: "fraud", label: "Fraud", tone: "danger" },
  { value: "friendly_fraud", label: "Friendly fraud", tone: "warn" },
  { value: "legitimate", label: "Legitimate", tone: "ok" },
];

function Timeline({ by, value }: { by: "card_token" | "customer_id"; value: string }) {
  const [open, setOpen] = useState<string | null>(null);
  const query = useQuery({
    queryKey: ["timeline", by, value],
    queryFn: ({ signal }) => api.get<Page<TimelineItem>>("/v1/timeline", { query: { [by]: value, limit: 100 }, signal }),
  });
  return (
    <QueryState query={query} what="the timeline" empty={(d) => (d.items.length ? null : "No transactions.")}>
      {(data) => (
        <div className="table-wrap short">
          <table className="grid compact">
            <thead>
              <tr>
                <th>Time</th>
                <th className="num">Amount</th>
                <th>Merchant</th>
                <th>Ctry</th>
                <th>Channel</th>
                <th>Outcome</th>
                <th className="num">Risk</th>
                <th>Label</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((t) => (
                <tr key={t.transaction_id} className="clickable" onClick={() => setOpen(t.transaction_id)}>
                  <td className="mono" title={when(t.event_time)}>{`${t.event_time.slice(5, 10)} ${clock(t.event_time)}`}</td>
                  <td className="num mono">{money(t.amount, t.currency)}</td>
                  <td className="ellipsis">{t.merchant_name ?? "—"}</td>
                  <td>{t.merchant_country ?? "—"}</td>
                  <td>{t.channel ? label(t.channel) : "—"}</td>
                  <td>
                    <OutcomeBadge outcome={t.outcome} />
                  </td>
                  <td className="num">
                    <ScoreBar value={t.risk_score} outcome={t.outcome} />
                  </td>
                  <td>{t.label ? <span className={t.label.is_fraud ? "tag danger" : "tag ok"}>{t.label.is_fraud ? label(t.label.fraud_type ?? "fraud") : "genuine"}</span> : <span className="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {open && <DecisionDrawer transactionId={open} onClose={() => setOpen(null)} />}
        </div>
      )}
    </QueryState>
  );
}

function Logins({ customerId }: { customerId: string }) {
  const query = useQuery({
    queryKey: ["logins", customerId],
    queryFn: ({ signal }) => api.get<{ items: LoginEvent[] }>("/v1/logins", { query: { customer_id: customerId, limit: 50 }, signal }),
  });
  return (
    <QueryState query={query} what="login history" empty={(d) => (d.items.length ? null : "No logins recorded for this customer.")}>
      {(data) => (
        <table className="grid compact">
          <thead>
            <tr>
              <th>Time</th>
              <th>Result</th>
              <th>Ctry</th>
              <th>Device</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((l) => (
              <tr key={l.login_id}>
                <td className="mono">{`${l.event_time.slice(5, 10)} ${clock(l.event_time)}`}</td>
                <td>{l.success ? <span className="tag ok">success</span> : <span className="tag danger">failed</span>}</td>
                <td>{l.country ?? "—"}</td>
                <td className="ellipsis">{[l.device_type, l.device_id].filter(Boolean).join(" · ") || "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </QueryState>
  );
}

function Evidence({ transactionId }: { transactionId: string }) {
  const query = useDecisionDetail(transactionId);
  return (
    <QueryState query={query} what="the decision">
      {(detail) => <DecisionBody detail={detail} />}
    </QueryState>
  );
}

/** Investigate, resolve with a disposition (which records labels) or reopen: analysts and admins only. */
export function CaseActions({ status, busy, onMove }: { status: string; busy: boolean; onMove: (to: string, disposition?: Disposition) => void }) {
  return (
    <Can permission="cases.act">
      <div className="page-actions actions" role="group" aria-label="Case actions">
        {status !== "resolved" ? (
          <>
            {status === "open" && (
              <button type="button" className="button subtle" onClick={() => onMove("investigating")} disabled={busy}>
                Start investigating
              </button>
            )}
            {DISPOSITIONS.map((d) => (
              <button key={d.value} type="button" className={`button ${d.tone}`} onClick={() => onMove("resolved", d.value)} disabled={busy}>
                {d.label}
              </button>
            ))}
          </>
        ) : (
          <button type="button" className="button subtle" onClick={() => onMove("open")} disabled={busy}>
            Reopen
          </button>
        )}
      </div>
    </Can>
  );
}

export function CasePage() {
  const caseId = Number(useParams().caseId);
  const { session } = useSession();
  const client = useQueryClient();
  const [timeline, setTimeline] = useState<"card_token" | "customer_id">("card_token");
  const [evidenceTx, setEvidenceTx] = useState<string | null>(null);
  const [note, setNote] = useState("");
  const [assignee, setAssignee] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const query = useQuery({
    queryKey: ["case", caseId],
    queryFn: ({ signal }) => api.get<CaseDetail>("/v1/cases/{case_id}", { params: { case_id: caseId }, signal }),
  });

  const act = useMutation({
    mutationFn: async (action: () => Promise<string>) => action(),
    onSuccess: (text) => {
      setMessage(text);
      void client.invalidateQueries({ queryKey: ["case", caseId] });
      void client.invalidateQueries({ queryKey: ["cases"] });
      void client.invalidateQueries({ queryKey: ["timeline"] });
      void client.invalidateQueries({ queryKey: ["decision-detail"] });
      // labels change the fraud figures everywhere
      for (const key of ["summary", "geo", "trends", "breakdown", "model-performance", "scores", "rule-stats"]) void client.invalidateQueries({ queryKey: [key] });
    },
  });

  const move = (to: string, disposition?: Disposition) =>
    act.mutate(async () => {
      const answer = await api.post<{ status: string; labels_written: number }>("/v1/cases/{case_id}/transition", { to, disposition }, { params: { case_id: caseId } });
      return disposition ? `Resolved as ${label(disposition)}: ${answer.labels_written} label${answer.labels_written === 1 ? "" : "s"} recorded.` : `Moved to ${label(to)}.`;
    });
  const assign = (who: string) =>
    act.mutate(async () => {
      await api.post("/v1/cases/{case_id}/assign", { assignees: [who] }, { params: { case_id: caseId } });
      return `Assigned to ${who}.`;
    });
  const addNote = (event: FormEvent) => {
    event.preventDefault();
    const text = note.trim();
    if (!text) return;
    act.mutate(async () => {
      await api.post("/v1/cases/{case_id}/notes", { text }, { params: { case_id: caseId } });
      setNote("");
      return "Note added.";
    });
  };

  return (
    <div className="page">
      <QueryState query={query} what={`case ${caseId}`}>
        {(c) => {
          const strongest = [...c.transactions].sort((a, b) => b.risk_score - a.risk_score)[0];
          const shownTx = evidenceTx ?? strongest?.transaction_id ?? null;
          return (
            <>
              <header className="page-head">
                <div>
                  <Link to="/cases" className="small link">← Cases</Link>
                  <h1>
                    Case #{c.id} <OutcomeBadge outcome={c.queue} /> <span className={`prio prio-${c.priority}`}>P{c.priority}</span>
                  </h1>
                  <div className="muted small">
                    {label(c.status)}
                    {c.disposition ? ` · ${label(c.disposition)}` : ""} · opened {relative(c.opened_at)} · {c.status === "resolved" ? `resolved ${c.resolved_at ? relative(c.resolved_at) : ""} by ${c.resolved_by ?? "—"}` : c.breached ? <span className="sla breached">SLA breached {relative(c.due_at)}</span> : `due ${relative(c.due_at)}`}
                  </div>
                </div>
                <CaseActions status={c.status} busy={act.isPending} onMove={move} />
              </header>
              {message && !act.error && <p className="notice" role="status">{message}</p>}
              {act.error && <ErrorState error={act.error instanceof ApiError ? act.error : String(act.error)} />}
              <div className="case-grid">
                <div className="case-main">
                  <Panel title={`Transactions in this case (${c.transactions.length})`}>
                    <table className="grid compact">
                      <thead>
                        <tr>
                          <th>Time</th>
                          <th>Transaction</th>
                          <th>Outcome</th>
                          <th className="num">Risk</th>
                        </tr>
                      </thead>
                      <tbody>
                        {c.transactions.map((t) => (
                          <tr key={t.transaction_id} className={`clickable${t.transaction_id === shownTx ? " cursor" : ""}`} onClick={() => setEvidenceTx(t.transaction_id)}>
                            <td className="mono">{when(t.event_time)}</td>
                            <td className="mono">{t.transaction_id}</td>
                            <td>
                              <OutcomeBadge outcome={t.outcome} />
                            </td>
                            <td className="num">
                              <ScoreBar value={t.risk_score} outcome={t.outcome} />
                            </td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </Panel>
                  <Panel
                    title="Timeline"
                    actions={
                      <Tabs
                        label="Timeline of"
                        value={timeline}
                        onChange={setTimeline}
                        options={[
                          { value: "card_token", label: "Card" },
                          { value: "customer_id", label: "Customer" },
                        ]}
                      />
                    }
                  >
                    {timeline === "card_token" && c.card_token && <Timeline by="card_token" value={c.card_token} />}
                    {timeline === "customer_id" && c.customer_id && <Timeline by="customer_id" value={c.customer_id} />}
                    {!(timeline === "card_token" ? c.card_token : c.customer_id) && <p className="muted">Not known for this case.</p>}
                  </Panel>
                  <Panel title="Login history">{c.customer_id ? <Logins customerId={c.customer_id} /> : <p className="muted">No customer on this case.</p>}</Panel>
                </div>
                <div className="case-side">
                  <Panel title="Case">
                    <KeyValues
                      entries={[
                        ["Amount", money(c.total_amount, c.currency)],
                        ["Max risk", <ScoreBar key="r" value={c.max_risk} />],
                        ["Decisions", c.decisions],
                        ["Customer", c.customer_id],
                        ["Card", c.card_token ? `${c.card_token.slice(0, 10)}…` : null],
                        ["Assignee", c.assignee ?? "unassigned"],
                        ["Due", when(c.due_at)],
                      ]}
                    />
                    <Can permission="cases.act">
                      <form
                        className="row-form"
                        onSubmit={(e) => {
                          e.preventDefault();
                          if (assignee.trim()) assign(assignee.trim());
                        }}
                      >
                        <input aria-label="Assignee" placeholder="Assign to…" value={assignee} onChange={(e) => setAssignee(e.target.value)} />
                        <button type="submit" className="button subtle small" disabled={act.isPending}>
                          Assign
                        </button>
                        {session && c.assignee !== session.username && (
                          <button type="button" className="button subtle small" onClick={() => assign(session.username)} disabled={act.isPending}>
                            Take it
                          </button>
                        )}
                      </form>
                    </Can>
                  </Panel>
                  <Panel title="Evidence: features and reasons">{shownTx ? <Evidence transactionId={shownTx} /> : <p className="muted">No transaction.</p>}</Panel>
                  <Panel title={`Notes (${c.notes.length})`}>
                    <ul className="notes">
                      {c.notes.map((n, i) => (
                        <li key={i}>
                          <div className="muted small">
                            {n.author} · {when(n.at)}
                          </div>
                          <div className="note-text">{n.text}</div>
                        </li>
                      ))}
                      {c.notes.length === 0 && <li className="muted">No notes yet.</li>}
                    </ul>
                    <Can permission="cases.act">
                      <form onSubmit={addNote} className="note-form">
                        <textarea aria-label="New note" placeholder="What did you find? (calls, documents, merchant contact)" value={note} onChange={(e) => setNote(e.target.value)} rows={3} />
                        <button type="submit" className="button subtle small" disabled={act.isPending || !note.trim()}>
                          Add note
                        </button>
                      </form>
                    </Can>
                  </Panel>
                </div>
              </div>
            </>
          );
        }}
      </QueryState>
    </div>
  );
}
