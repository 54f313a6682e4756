// Small shared pieces: outcome badges, loading / empty / error states, tiles, panels, tabs.
import type { ReactNode } from "react";
import { ApiError } from "../api/client";
import type { Outcome } from "../api/types";
import { label } from "../lib/format";

export const OUTCOME_COLOURS: Record<Outcome, string> = {
  approve: "var(--approve)",
  review: "var(--review)",
  step_up: "var(--step-up)",
  block: "var(--block)",
};

export function OutcomeBadge({ outcome }: { outcome: Outcome | null | undefined }) {
  if (!outcome) return <span className="muted">—</span>;
  return <span className={`badge outcome-${outcome}`}>{label(outcome)}</span>;
}

/** A risk score as a bar, coloured by the decision's outcome when there is one. */
export function ScoreBar({ value, outcome }: { value: number | null | undefined; outcome?: Outcome | null }) {
  if (value === null || value === undefined) return <span className="muted">—</span>;
  const tone = outcome ?? "neutral";
  return (
    <span className="scorebar" title={`risk ${value.toFixed(3)}`}>
      <span className={`scorebar-fill outcome-${tone}`} style={{ width: `${Math.max(3, value * 100)}%` }} />
      <span className="scorebar-text">{value.toFixed(2)}</span>
    </span>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <div className="state" role="status" aria-live="polite">
      <span className="spinner" aria-hidden /> Loading {what}…
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state empty">{children}</div>;
}

export function ErrorState({ error, retry }: { error: unknown; retry?: () => void }) {
  const text = error instanceof ApiError ? `${error.detail} (HTTP ${error.status})` : error instanceof Error ? error.message : String(error);
  return (
    <div className="state error" role="alert">
      <strong>Could not load.</strong> {text}
      {retry && (
        <button type="button" className="link" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** Loading, error and empty handled in one place for a query's data. */
export function QueryState<T>({ query, what, empty, children }: {
  query: { data: T | undefined; error: unknown; isPending: boolean; refetch: () => unknown };
  what: string;
  empty?: (data: T) => ReactNode | null;
  children: (data: T) => ReactNode;
}) {
  if (query.isPending) return <Loading what={what} />;
  if (query.error) return <ErrorState error={query.error} retry={() => void query.refetch()} />;
  const data = query.data as T;
  const nothing = empty?.(data);
  if (nothing) return <Empty>{nothing}</Empty>;
  return <>{children(data)}</>;
}

export function Tile({ title, value, sub, tone }: { title: string; value: ReactNode; sub?: ReactNode; tone?: Outcome | "muted" }) {
  return (
    <div className={`tile${tone ? ` tone-${tone}` : ""}`}>
      <div className="tile-title">{title}</div>
      <div className="tile-value">{value}</div>
      {sub !== undefined && <div className="tile-sub">{sub}</div>}
    </div>
  );
}

export function Panel({ title, actions, children, className }: { title?: ReactNode; actions?: ReactNode; children: ReactNode; className?: string }) {
  return (
    <section className={`panel${className ? ` ${className}` : ""}`}>
      {(title || actions) && (
        <header className="panel-head">
          {title && <h2>{title}</h2>}
          {actions && <div className="panel-actions">{actions}</div>}
        </header>
      )}
      <div className="panel-body">{children}</div>
    </section>
  );
}

export function Tabs<T extends string>({ value, options, onChange, label: aria }: {
  value: T;
  options: { value: T; label: ReactNode }[];
  onChange: (value: T) => void;
  label: string;
}) {
  return (
    <div className="tabs" role="tablist" aria-label={aria}>
      {options.map((option) => (
        <button
          key={option.value}
          type="button"
          role="tab"
          aria-selected={option.value === value}
          className={option.value === value ? "tab active" : "tab"}
          onClick={() => onChange(option.value)}
        >
          {option.label}
        </button>
      ))}
    </div>
  );
}

export function KeyValues({ entries }: { entries: [string, ReactNode][] }) {
  return (
    <dl className="kv">
      {entries.map(([key, value]) => (
        <div key={key} className="kv-row">
          <dt>{key}</dt>
          <dd>{value === null || value === undefined || value === "" ? <span className="muted">—</span> : value}</dd>
        </div>
      ))}
    </dl>
  );
}
