import { useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";
import { api, type Query } from "../api/client";
import type { CaseStatus, CaseSummary } from "../api/types";
import { useSession } from "../auth/session";
import { OutcomeBadge, QueryState, ScoreBar, Tabs } from "../components/ui";
import { label, money, relative, when } from "../lib/format";
import { useCursorInView, useKeys } from "../lib/keys";

type Queue = "mine" | "all" | "unassigned" | "breaching";

const QUEUES: { value: Queue; label: string }[] = [
  { value: "mine", label: "Mine" },
  { value: "all", label: "Team · all" },
  { value: "unassigned", label: "Unassigned" },
  { value: "breaching", label: "SLA breaching" },
];

const PAGE = 50;

export function CasesPage() {
  const { session } = useSession();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const queue = (params.get("queue") as Queue | null) ?? "all";
  const status = (params.get("status") as CaseStatus | "any" | null) ?? "open";
  const search = params.get("q") ?? "";
  const [typed, setTyped] = useState(search);
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [row, setRow] = useState(0);
  const after = cursors[cursors.length - 1];

  const query: Query = useMemo(() => {
    const q: Query = { limit: PAGE, after: after ?? undefined };
    if (status !== "any") q.status = status;
    if (queue === "mine") q.assignee = session?.username;
    if (queue === "breaching") q.breached = true;
    if (search) q.q = search;
    return q;
  }, [queue, status, after, search, session?.username]);

  const cases = useQuery({
    queryKey: ["cases", query],
    queryFn: ({ signal }) => api.get<{ cases: CaseSummary[]; next: string | null }>("/v1/cases", { query, signal }),
    refetchInterval: 15_000,
    placeholderData: (previous) => previous,
  });

  const select = (next: Record<string, string>) => {
    setCursors([null]);
    setRow(0);
    setParams({ queue, status, ...(search ? { q: search } : {}), ...next });
  };

  const visible = (cases.data?.cases ?? []).filter((c) => queue !== "unassigned" || !c.assignee);
  const keys = useMemo(
    () => ({
      j: () => setRow((r) => Math.min(r + 1, visible.length - 1)),
      k: () => setRow((r) => Math.max(r - 1, 0)),
      Enter: () => visible[row] && navigate(`/cases/${visible[row].id}`),
    }),
    [visible, row, navigate],
  );
  useKeys(keys);
  useCursorInView(row);

  return (
    <div className="page">
      <header className="page-head">
        <h1>Cases</h1>
        <div className="page-actions">
          <form
            onSubmit={(e) => {
              e.preventDefault();
              select({ q: typed.trim() });
            }}
          >
            <input type="search" aria-label="Search cases" placeholder="Case, transaction, card, customer or assignee" className="w-search" value={typed} onChange={(e) => setTyped(e.target.value)} />
          </form>
          <label className="inline">
            Status
            <select value={status} onChange={(e) => select({ status: e.target.value })} aria-label="Status">
              <option value="open">open</option>
              <option value="investigating">investigating</option>
              <option value="resolved">resolved</option>
              <option value="any">any</option>
            </select>
          </label>
        </div>
      </header>
      <Tabs label="Queue" value={queue} options={QUEUES} onChange={(q) => select({ queue: q })} />
      <QueryState query={cases} what="cases" empty={() => (visible.length === 0 && cursors.length === 1 ? emptyText(queue, status) : null)}>
        {(data) => (
          <>
            <div className="table-wrap">
              <table className="grid" aria-label="Cases">
                <thead>
                  <tr>
                    <th className="num">#</th>
                    <th>Priority</th>
                    <th>Queue</th>
                    <th>Status</th>
                    <th className="num">Max risk</th>
                    <th className="num">Amount</th>
                    <th className="num">Decisions</th>
                    <th>Subject</th>
                    <th>Assignee</th>
                    <th>Opened</th>
                    <th>SLA</th>
                  </tr>
                </thead>
                <tbody>
                  {visible.map((c, i) => (
                    <tr key={c.id} className={`clickable${i === row ? " cursor" : ""}`} onClick={() => navigate(`/cases/${c.id}`)} data-testid="case-row">
                      <td className="num mono">{c.id}</td>
                      <td>
                        <span className={`prio prio-${c.priority}`}>P{c.priority}</span>
                      </td>
                      <td>
                        <OutcomeBadge outcome={c.queue} />
                      </td>
                      <td>{label(c.status)}{c.disposition ? ` · ${label(c.disposition)}` : ""}</td>
                      <td className="num">
                        <ScoreBar value={c.max_risk} outcome={c.queue} />
                      </td>
                      <td className="num mono">{money(c.total_amount, c.currency)}</td>
                      <td className="num">{c.decisions}</td>
                      <td className="mono ellipsis">{c.case_key.replace(/^card:(.{8}).*/, "card $1…")}</td>
                      <td>{c.assignee ?? <span className="muted">unassigned</span>}</td>
                      <td title={when(c.opened_at)}>{relative(c.opened_at)}</td>
                      <td className={c.breached ? "sla breached" : "sla"} title={when(c.due_at)}>
                        {c.status === "resolved" ? "—" : c.breached ? `breached ${relative(c.due_at)}` : `due ${relative(c.due_at)}`}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <div className="pager">
              <button type="button" className="button subtle small" disabled={cursors.length === 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
                ← Previous
              </button>
              <span className="muted small">page {cursors.length}</span>
              <button type="button" className="button subtle small" disabled={!data.next} onClick={() => setCursors((c) => [...c, data.next])}>
                Next →
              </button>
            </div>
          </>
        )}
      </QueryState>
    </div>
  );
}

function emptyText(queue: Queue, status: string): string {
  const what = status === "any" ? "cases" : `${status} cases`;
  if (new URLSearchParams(window.location.search).get("q")) return `No ${what} match this search.`;
  if (queue === "mine") return `No ${what} are assigned to you.`;
  if (queue === "unassigned") return `No unassigned ${what}.`;
  if (queue === "breaching") return `No ${what} past their SLA.`;
  return `No ${what}.`;
}
