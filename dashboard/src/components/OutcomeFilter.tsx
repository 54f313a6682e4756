import { OUTCOMES, type Outcome } from "../api/types";
import { label } from "../lib/format";

/** Toggle chips for the four outcomes; none selected means all. */
export function OutcomeFilter({ value, onChange, counts }: { value: Outcome[]; onChange: (value: Outcome[]) => void; counts?: Partial<Record<Outcome, number>> }) {
  const toggle = (outcome: Outcome) => {
    const next = value.includes(outcome) ? value.filter((o) => o !== outcome) : [...value, outcome];
    onChange(OUTCOMES.filter((o) => next.includes(o)));
  };
  return (
    <div className="chips" role="group" aria-label="Outcome">
      {OUTCOMES.map((outcome) => {
        const on = value.includes(outcome);
        return (
          <button key={outcome} type="button" className={`chip outcome-${outcome}${on ? " on" : ""}`} aria-pressed={on} onClick={() => toggle(outcome)}>
            <span className="dot" aria-hidden />
            {label(outcome)}
            {counts?.[outcome] !== undefined && <span className="chip-count">{counts[outcome]}</span>}
          </button>
        );
      })}
      {value.length > 0 && (
        <button type="button" className="link small" onClick={() => onChange([])}>
          all
        </button>
      )}
    </div>
  );
}
