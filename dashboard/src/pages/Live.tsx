import { useQuery } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api } from "../api/client";
import { readEventStream } from "../api/sse";
import type { DecisionView, Page, Summary } from "../api/types";
import { DecisionDrawer } from "../components/DecisionDetail";
import { OutcomeFilter } from "../components/OutcomeFilter";
import { ErrorState, OutcomeBadge, ScoreBar, Tile } from "../components/ui";
import { NO_FILTERS, matches, toQuery, type DecisionFilters } from "../lib/filters";
import { clock, count, label, money, ms, percent, short } from "../lib/format";
import { useCursorInView, useKeys } from "../lib/keys";

const CAP = 300;

type Status = "connecting" | "open" | "retrying" | "paused" | "failed";

/** Newest decision first (when it was decided, then when the payment happened). */
function newestFirst(a: DecisionView, b: DecisionView): number {
  return b.decided_at.localeCompare(a.decided_at) || b.event_time.localeCompare(a.event_time);
}

export function merge(existing: DecisionView[], incoming: DecisionView[]): DecisionView[] {
  const seen = new Set(existing.map((d) => d.transaction_id));
  const fresh = incoming.filter((d) => !seen.has(d.transaction_id));
  return [...fresh, ...existing].sort(newestFirst).slice(0, CAP);
}

function SummaryTiles() {
  const query = useQuery({
    queryKey: ["summary"],
    queryFn: ({ signal }) => api.get<Summary>("/v1/analytics/summary", { signal }),
    refetchInterval: 5000,
  });
  if (query.error) return <ErrorState error={query.error} retry={() => void query.refetch()} />;
  const s = query.data;
  const o = s?.by_outcome;
  return (
    <div className="tiles" aria-busy={!s}>
      <Tile title="Throughput" value={s ? `${s.throughput_per_s < 10 ? s.throughput_per_s.toFixed(2) : s.throughput_per_s.toFixed(0)}/s` : "…"} sub={s ? `${short(s.decisions)} decisions in window` : ""} />
      <Tile title="Latency p50" value={s ? ms(s.latency_ms.p50) : "…"} sub={s ? `p95 ${ms(s.latency_ms.p95)} · p99 ${ms(s.latency_ms.p99)}` : ""} />
      <Tile title="Approved" tone="approve" value={o ? short(o.approve) : "…"} sub={s ? `${percent(s.flagged_rate === null ? null : 1 - s.flagged_rate)} of decisions` : ""} />
      <Tile title="Review" tone="review" value={o ? short(o.review) : "…"} />
      <Tile title="Step-up" tone="step_up" value={o ? short(o.step_up) : "…"} />
      <Tile title="Blocked" tone="block" value={o ? short(o.block) : "…"} sub={s ? money(s.blocked_amount) : ""} />
      <Tile title="Fraud caught" value={s ? count(s.fraud_caught) : "…"} sub={s ? money(s.fraud_caught_amount) : ""} tone="approve" />
      <Tile title="Fraud missed" value={s ? count(s.fraud_missed) : "…"} sub={s ? money(s.fraud_missed_amount) : ""} tone="block" />
    </div>
  );
}

function Filters({ value, onChange, searchRef }: { value: DecisionFilters; onChange: (f: DecisionFilters) => void; searchRef: React.RefObject<HTMLInputElement> }) {
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  const set = (key: keyof DecisionFilters) => (e: React.ChangeEvent<HTMLInputElement>) => setDraft({ ...draft, [key]: e.target.value });
  return (
    <form
      className="filters"
      onSubmit={(e) => {
        e.preventDefault();
        onChange(draft);
      }}
      aria-label="Filters"
    >
      <OutcomeFilter value={draft.outcomes} onChange={(outcomes) => onChange({ ...draft, outcomes })} />
      <input ref={searchRef} aria-label="Merchant" placeholder="Merchant id or name" value={draft.merchant} onChange={set("merchant")} className="w-md" />
      <input aria-label="Country" placeholder="Country (DE)" value={draft.country} onChange={set("country")} className="w-xs" maxLength={2} />
      <input aria-label="Minimum score" placeholder="Score ≥" value={draft.minScore} onChange={set("minScore")} className="w-xs" inputMode="decimal" />
      <input aria-label="Minimum amount" placeholder="Amount ≥" value={draft.minAmount} onChange={set("minAmount")} className="w-xs" inputMode="decimal" />
      <input aria-label="Maximum amount" placeholder="Amount ≤" value={draft.maxAmount} onChange={set("maxAmount")} className="w-xs" inputMode="decimal" />
      <input aria-label="Scenario" placeholder="Scenario (label)" value={draft.scenario} onChange={set("scenario")} className="w-sm" />
      <button type="submit" className="button subtle small">
        Apply
      </button>
      <button type="button" className="link small" onClick={() => onChange(NO_FILTERS)}>
        Clear
      </button>
    </form>
  );
}

export function LivePage() {
  const [filters, setFilters] = useState<DecisionFilters>(NO_FILTERS);
  const [rows, setRows] = useState<DecisionView[]>([]);
  const [paused, setPaused] = useState(false);
  const [held, setHeld] = useState<DecisionView[]>([]);
  const [status, setStatus] = useState<Status>("connecting");
  const [error, setError] = useState<unknown>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [cursor, setCursor] = useState(0);
  const [received, setReceived] = useState(0);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const searchRef = useRef<HTMLInputElement>(null);
  const query = useMemo(() => toQuery(filters), [filters]);

  // The newest stored decisions first, then the stream from now on.
  useEffect(() => {
    const abort = new AbortController();
    setRows((current) => current.filter((d) => matches(d, filters)));
    setHeld([]);
    setError(null);
    void api
      .get<Page<DecisionView>>("/v1/decisions", { query: { ...query, limit: 100 }, signal: abort.signal })
      .then((page) => setRows((current) => merge(current, page.items)))
      .catch((e: unknown) => {
        if (!abort.signal.aborted) setError(e);
      });
    let batch: DecisionView[] = [];
    let timer: ReturnType<typeof setTimeout> | null = null;
    const flush = () => {
      timer = null;
      const incoming = batch;
      batch = [];
      setReceived((n) => n + incoming.length);
      if (pausedRef.current) setHeld((h) => [...h, ...incoming].slice(-CAP));
      else setRows((current) => merge(current, incoming));
    };
    readEventStream("/v1/stream/decisions", {
      query,
      signal: abort.signal,
      onStatus: (s) => setStatus(s),
      onEvent: (event) => {
        if (event.event !== "decision") return;
        batch.push(JSON.parse(event.data) as DecisionView);
        timer ??= setTimeout(flush, 250); // one render per quarter second, however fast they come
      },
    }).catch((e: unknown) => {
      setStatus("failed");
      setError(e);
    });
    return () => {
      abort.abort();
      if (timer) clearTimeout(timer);
    };
  }, [query, filters]);

  const togglePause = useCallback(() => {
    setPaused((p) => {
      if (p) {
        setHeld((h) => {
          setRows((current) => merge(current, h));
          return [];
        });
      }
      return !p;
    });
  }, []);

  const keys = useMemo(
    () => ({
      p: togglePause,
      "/": () => searchRef.current?.focus(),
      j: () => setCursor((c) => Math.min(c + 1, rows.length - 1)),
      k: () => setCursor((c) => Math.max(c - 1, 0)),
      Enter: () => rows[cursor] && setSelected(rows[cursor].transaction_id),
    }),
    [togglePause, rows, cursor],
  );
  useKeys(keys, selected === null);
  useCursorInView(cursor);

  const shown = paused ? "paused" : status;
  return (
    <div className="page">
      <header className="page-head">
        <h1>Live decisions</h1>
        <div className="page-actions">
          <span className={`live-status status-${shown}`} role="status" data-testid="stream-status">
            <span className="pulse" aria-hidden />
            {shown === "open" ? "live" : shown === "paused" ? `paused · ${held.length} new` : shown === "retrying" ? "reconnecting…" : shown === "failed" ? "stream refused" : "connecting…"}
          </span>
          <span className="muted small" data-testid="received">{count(received)} received</span>
          <button type="button" className={paused ? "button primary small" : "button subtle small"} onClick={togglePause} aria-pressed={paused} title="Pause (p)">
            {paused ? `Resume${held.length ? ` (${held.length})` : ""}` : "Pause"}
          </button>
        </div>
      </header>
      <SummaryTiles />
      <Filters value={filters} onChange={setFilters} searchRef={searchRef} />
      {error !== null && <ErrorState error={error} />}
      <div className="table-wrap live-table">
        <table className="grid" aria-label="Decisions">
          <thead>
            <tr>
              <th>Time</th>
              <th>Outcome</th>
              <th className="num">Risk</th>
              <th className="num">Amount</th>
              <th>Merchant</th>
              <th>Ctry</th>
              <th>Channel</th>
              <th>Card</th>
              <th>Rules hit · reasons</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((d, i) => (
              <tr
                key={d.transaction_id}
                className={`clickable row-${d.outcome}${i === cursor ? " cursor" : ""}`}
                onClick={() => {
                  setCursor(i);
                  setSelected(d.transaction_id);
                }}
                data-testid="decision-row"
              >
                <td className="mono">{clock(d.event_time)}</td>
                <td>
                  <OutcomeBadge outcome={d.outcome} />
                </td>
                <td className="num">
                  <ScoreBar value={d.risk_score} outcome={d.outcome} />
                </td>
                <td className="num mono">{money(d.amount, d.currency)}</td>
                <td className="ellipsis" title={d.merchant_id ?? ""}>
                  {d.merchant_name ?? d.merchant_id ?? "—"}
                  {d.merchant_mcc && <span className="muted small"> · {d.merchant_mcc}</span>}
                </td>
                <td>{d.merchant_country ?? "—"}</td>
                <td>{d.channel ? label(d.channel) : "—"}</td>
                <td className="mono">{d.card_last4 ? `…${d.card_last4}` : "—"}</td>
                <td className="ellipsis">
                  {d.rules_hit.map((r) => (
                    <span key={r} className="tag">{r}</span>
                  ))}
                  <span className="muted small">{d.reasons.slice(0, 2).join(" · ")}</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && !error && (
          <div className="state empty">{status === "open" ? "No decisions match these filters yet. New ones appear here as they are made." : "Waiting for decisions…"}</div>
        )}
      </div>
      {selected && <DecisionDrawer transactionId={selected} onClose={() => setSelected(null)} />}
    </div>
  );
}
