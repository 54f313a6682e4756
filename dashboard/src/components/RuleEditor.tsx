// One rule's fields, with its condition checked by the rules engine as you type
// (`POST /v1/rules/validate`): the engine's message is shown under the column it names.
import { useEffect, useState } from "react";
import { api } from "../api/client";
import type { Rule, Validation } from "../api/types";

export const ACTIONS = ["review", "step_up", "block", "tag"] as const;

export function useValidation(condition: string, lists: string[], delayMs = 300): Validation | null {
  const [result, setResult] = useState<Validation | null>(null);
  const listsKey = lists.join(",");
  useEffect(() => {
    if (!condition.trim()) {
      setResult({ valid: false, problem: "a condition is required", column: null });
      return;
    }
    const abort = new AbortController();
    const timer = setTimeout(() => {
      api
        .post<Validation>("/v1/rules/validate", { condition, lists: listsKey ? listsKey.split(",") : [] }, { signal: abort.signal })
        .then(setResult)
        .catch((e: unknown) => {
          if (!abort.signal.aborted) setResult({ valid: false, problem: e instanceof Error ? e.message : String(e), column: null });
        });
    }, delayMs);
    return () => {
      clearTimeout(timer);
      abort.abort();
    };
  }, [condition, listsKey, delayMs]);
  return result;
}

/** The condition with a caret under the column the engine names (0-based, shown 1-based as
 * the engine's own message does). */
export function ProblemMarker({ condition, validation }: { condition: string; validation: Validation | null }) {
  if (!validation || validation.valid) return null;
  const column = validation.column ?? null;
  return (
    <div className="problem" role="alert">
      {column !== null && (
        <pre className="problem-where" aria-hidden>
          {condition}
          {"\n"}
          {" ".repeat(Math.max(0, column))}^
        </pre>
      )}
      <span className="problem-text">
        {column !== null ? `column ${column + 1}: ` : ""}
        {validation.problem}
      </span>
    </div>
  );
}

/** A published (frozen) version's rules, read only. */
export function RuleTable({ rules }: { rules: Rule[] }) {
  const described = rules.some((r) => r.description);
  return (
    <table className="grid compact rule-table">
      <thead>
        <tr>
          <th>Rule</th>
          <th>Action</th>
          <th className="num">Weight</th>
          <th>Condition</th>
          {described && <th>Description</th>}
        </tr>
      </thead>
      <tbody>
        {rules.map((r) => (
          <tr key={r.name}>
            <td className="mono">
              {r.name}
              {r.shadow && <span className="tag shadow">shadow</span>}
            </td>
            <td>
              <span className={`badge outcome-${r.action}`}>{r.action.replace("_", " ")}</span>
            </td>
            <td className="num">{r.weight}</td>
            <td className="mono wrap">{r.condition}</td>
            {described && <td className="wrap muted">{r.description}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function RuleEditor({ rule, lists, readOnly, onChange, onRemove, validationDelayMs }: {
  rule: Rule;
  lists: string[];
  readOnly: boolean;
  onChange: (rule: Rule) => void;
  onRemove: () => void;
  validationDelayMs?: number;
}) {
  const validation = useValidation(readOnly ? "" : rule.condition, lists, validationDelayMs);
  const set = <K extends keyof Rule>(key: K, value: Rule[K]) => onChange({ ...rule, [key]: value });
  return (
    <div className={`rule${!readOnly && validation && !validation.valid ? " invalid" : ""}`} data-testid="rule">
      <div className="rule-row">
        <input aria-label="Rule name" className="mono w-md" value={rule.name} readOnly={readOnly} onChange={(e) => set("name", e.target.value)} />
        <select aria-label="Action" value={rule.action} disabled={readOnly} onChange={(e) => set("action", e.target.value)}>
          {ACTIONS.map((a) => (
            <option key={a} value={a}>
              {a.replace("_", " ")}
            </option>
          ))}
        </select>
        <label className="inline small">
          weight
          <input aria-label="Weight" type="number" step="0.05" className="w-xs" value={rule.weight} readOnly={readOnly} onChange={(e) => set("weight", Number(e.target.value))} />
        </label>
        <label className="inline small">
          <input type="checkbox" checked={rule.shadow} disabled={readOnly} onChange={(e) => set("shadow", e.target.checked)} /> shadow
        </label>
        {!readOnly && (
          <>
            <span className={`valid-mark ${validation === null ? "pending" : validation.valid ? "ok" : "bad"}`} aria-label={validation?.valid ? "valid" : "not valid"}>
              {validation === null ? "…" : validation.valid ? "✓ valid" : "✕"}
            </span>
            <button type="button" className="link small danger" onClick={onRemove}>
              remove
            </button>
          </>
        )}
      </div>
      <div className="rule-body">
        <div>
          <textarea aria-label={`Condition of ${rule.name || "rule"}`} className="mono condition" value={rule.condition} readOnly={readOnly} spellCheck={false} rows={Math.min(4, Math.max(1, Math.ceil(rule.condition.length / 80)))} onChange={(e) => set("condition", e.target.value)} />
          {!readOnly && <ProblemMarker condition={rule.condition} validation={validation} />}
        </div>
        <textarea aria-label="Description" className="description" rows={1} placeholder="What it catches and why" value={rule.description} readOnly={readOnly} onChange={(e) => set("description", e.target.value)} />
      </div>
    </div>
  );
}
