// Chart defaults: one axis and tooltip style for every chart, outcome colours everywhere.
import type { ReactNode } from "react";
import { ResponsiveContainer } from "recharts";

export const AXIS = { stroke: "var(--fg-faint)", fontSize: 11, tickLine: false } as const;
export const GRID = { stroke: "var(--grid)", strokeDasharray: "2 4" } as const;
export const TOOLTIP = {
  contentStyle: { background: "var(--bg-raised)", border: "1px solid var(--line)", borderRadius: 6, fontSize: 12 },
  labelStyle: { color: "var(--fg)" },
  itemStyle: { padding: 0 },
  cursor: { fill: "rgba(255,255,255,0.04)" },
} as const;
export const COLOURS = {
  approve: "#3fb27f",
  review: "#e0a93b",
  step_up: "#7c8cf0",
  block: "#ef5b5b",
  fraud: "#ff7a59",
  neutral: "#8aa0b8",
  lost: "#ef5b5b",
  blocked: "#5fb0e8",
} as const;

export function ChartBox({ height = 240, children }: { height?: number; children: ReactNode }) {
  return (
    <div className="chart" style={{ height }}>
      <ResponsiveContainer width="100%" height="100%" minWidth={100}>
        {children as React.ReactElement}
      </ResponsiveContainer>
    </div>
  );
}
