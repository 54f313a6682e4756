import { useQuery } from "@tanstack/react-query";
import { useMemo } from "react";
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from "recharts";
import { api } from "../api/client";
import type { ModelPerformanceItem, Models, RuleStat, ScoreDistribution } from "../api/types";
import { AXIS, COLOURS, ChartBox, GRID, TOOLTIP } from "../components/charts";
import { Panel, QueryState, Tile } from "../components/ui";
import { count, day, percent, short, when } from "../lib/format";

function psiVerdict(psi: number | null): { text: string; tone: "approve" | "review" | "block" | "muted" } {
  if (psi === null) return { text: "no reference window", tone: "muted" };
  if (psi < 0.1) return { text: "stable", tone: "approve" };
  if (psi < 0.25) return { text: "moderate shift", tone: "review" };
  return { text: "significant shift: retrain", tone: "block" };
}

function Performance() {
  const query = useQuery({
    queryKey: ["model-performance"],
    queryFn: ({ signal }) => api.get<{ items: ModelPerformanceItem[] }>("/v1/analytics/model-performance", { query: { bucket: "day" }, signal }),
  });
  return (
    <Panel title="Model performance over time (from labels known now)" className="span-2">
      <QueryState query={query} what="model performance" empty={(d) => (d.items.length ? null : "No labelled decisions yet: performance appears once labels arrive.")}>
        {(data) => (
          <ChartBox height={250}>
            <LineChart data={data.items} margin={{ top: 8, right: 8, left: 0, bottom: 0 }}>
              <CartesianGrid {...GRID} vertical={false} />
              <XAxis dataKey="start" tickFormatter={day} {...AXIS} minTickGap={24} />
              <YAxis domain={[0, 1]} {...AXIS} tickFormatter={(v: number) => percent(v, 0)} width={44} />
              <Tooltip {...TOOLTIP} labelFormatter={(v) => day(String(v))} formatter={(v) => (v === null ? "—" : percent(Number(v)))} />
              <Legend wrapperStyle={{ fontSize: 12 }} />
              <Line dataKey="precision" stroke={COLOURS.blocked} strokeWidth={2} dot={data.items.length < 15} connectNulls isAnimationActive={false} />
              <Line dataKey="recall" stroke={COLOURS.approve} strokeWidth={2} dot={data.items.length < 15} connectNulls isAnimationActive={false} />
              <Line dataKey="average_precision" name="average precision" stroke={COLOURS.fraud} strokeWidth={2} dot={data.items.length < 15} connectNulls isAnimationActive={false} />
            </LineChart>
          </ChartBox>
        )}
      </QueryState>
    </Panel>
  );
}

function Scores() {
  const query = useQuery({ queryKey: ["scores"], queryFn: ({ signal }) => api.get<ScoreDistribution>("/v1/analytics/scores", { query: { bins: 20 }, signal }) });
  return (
    <Panel title="Score distribution and drift">
      <QueryState query={query} what="scores" empty={(d) => (d.edges.length ? null : "No scored decisions in this window.")}>
        {(d) => {
          const rows = d.fraud.map((_, i) => ({ bin: `${d.edges[i].toFixed(2)}`, fraud: d.fraud[i], genuine: d.genuine[i], unlabelled: d.unlabelled[i] }));
          const verdict = psiVerdict(d.psi);
          return (
            <>
              <div className="tiles two">
                <Tile title="PSI vs reference" value={d.psi === null ? "—" : d.psi.toFixed(3)} sub={verdict.text} tone={verdict.tone} />
                <Tile title="Reference window" value={d.reference?.since ? day(d.reference.since) : "—"} sub={d.reference?.until ? `to ${day(d.reference.until)}` : ""} tone="muted" />
              </div>
              <ChartBox height={200}>
                <BarChart data={rows} margin={{ top: 8, right: 8, left: 0, bottom: 0 }}>
                  <CartesianGrid {...GRID} vertical={false} />
                  <XAxis dataKey="bin" {...AXIS} interval={3} />
                  <YAxis {...AXIS} scale="sqrt" tickFormatter={short} width={44} />
                  <Tooltip {...TOOLTIP} />
                  <Legend wrapperStyle={{ fontSize: 12 }} />
                  <Bar dataKey="genuine" stackId="s" fill={COLOURS.neutral} isAnimationActive={false} />
                  <Bar dataKey="unlabelled" stackId="s" fill="#4a5568" isAnimationActive={false} />
                  <Bar dataKey="fraud" stackId="s" fill={COLOURS.fraud} isAnimationActive={false} />
                </BarChart>
              </ChartBox>
            </>
          );
        }}
      </QueryState>
    </Panel>
  );
}

function Champion() {
  const query = useQuery({ queryKey: ["models"], queryFn: ({ signal }) => api.get<Models>("/v1/models", { signal }) });
  return (
    <Panel title="Champion and challenger" className="span-3">
      <QueryState query={query} what="models" empty={(d) => (d.items.length ? null : "No model is registered: scorers run rules only. Train one with `fraudwatch train`.")}>
        {(data) => {
          const metricNames = [...new Set(data.items.flatMap((m) => Object.keys(m.metrics)))].filter((m) => m.startsWith("test_")).sort();
          return (
            <div className="scroll-x">
            <table className="grid">
              <thead>
                <tr>
                  <th>Version</th>
                  <th>Role</th>
                  <th>Stage</th>
                  <th>Created</th>
                  {metricNames.map((m) => (
                    <th key={m} className="num">{m.replace(/^test_/, "test ").replace(/_/g, " ")}</th>
                  ))}
                  <th className="num">Live decisions</th>
                  <th className="num">Live precision</th>
                  <th className="num">Live recall</th>
                  <th className="num">Live AP</th>
                  <th>Trained on</th>
                  <th>Features</th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((m) => {
                  const role = m.version === data.champion || m.stage === "champion" ? "champion" : m.version === data.challenger || m.stage === "challenger" ? "challenger" : null;
                  return (
                    <tr key={`${m.name}-${m.version}`} className={role ? `model-${role}` : undefined}>
                      <td className="mono">{m.name} v{m.version}</td>
                      <td>{role ? <span className={`tag ${role === "champion" ? "ok" : "warn"}`}>{role}</span> : m.aliases.join(", ") || <span className="muted">—</span>}</td>
                      <td>{m.stage || "—"}</td>
                      <td title={when(m.created_at)}>{day(m.created_at)}</td>
                      {metricNames.map((name) => (
                        <td key={name} className="num">{m.metrics[name] === undefined ? "—" : m.metrics[name].toFixed(3)}</td>
                      ))}
                      <td className="num">{count(m.live?.decisions)}</td>
                      <td className="num">{percent(m.live?.precision)}</td>
                      <td className="num">{percent(m.live?.recall)}</td>
                      <td className="num">{m.live?.average_precision == null ? "—" : m.live.average_precision.toFixed(3)}</td>
                      <td>{m.data_period?.start && m.data_period?.end ? `${day(m.data_period.start)} – ${day(m.data_period.end)}` : "—"}</td>
                      <td className="mono">{m.feature_set_version || "—"}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            </div>
          );
        }}
      </QueryState>
    </Panel>
  );
}

function Rules() {
  const query = useQuery({ queryKey: ["rule-stats"], queryFn: ({ signal }) => api.get<{ items: RuleStat[] }>("/v1/analytics/rules", { signal }) });
  const sorted = useMemo(() => [...(query.data?.items ?? [])].sort((a, b) => b.hits + b.shadow_hits - (a.hits + a.shadow_hits)), [query.data]);
  return (
    <Panel title="Rules: hit rates and precision" className="span-3">
      <QueryState query={query} what="rule statistics" empty={(d) => (d.items.length ? null : "No rule fired in this window.")}>
        {() => (
          <table className="grid">
            <thead>
              <tr>
                <th>Rule</th>
                <th>Action</th>
                <th className="num">Hits</th>
                <th className="num">Shadow hits</th>
                <th className="num">Hit rate</th>
                <th className="num">Precision</th>
                <th className="num">Fraud caught</th>
                <th>Precision</th>
              </tr>
            </thead>
            <tbody>
              {sorted.map((r) => (
                <tr key={r.rule}>
                  <td className="mono">{r.rule}</td>
                  <td>{r.action ? <span className={`badge outcome-${r.action}`}>{r.action.replace("_", " ")}</span> : <span className="muted">not active</span>}</td>
                  <td className="num">{count(r.hits)}</td>
                  <td className="num">{count(r.shadow_hits)}</td>
                  <td className="num">{percent(r.hit_rate, 2)}</td>
                  <td className="num">{percent(r.precision)}</td>
                  <td className="num">{count(r.fraud_caught)}</td>
                  <td className="barcell">
                    <span className="minibar" style={{ width: `${(r.precision ?? 0) * 100}%` }} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </QueryState>
    </Panel>
  );
}

export function ModelsPage() {
  return (
    <div className="page">
      <header className="page-head">
        <h1>Models &amp; rules</h1>
      </header>
      <div className="grid-3">
        <Performance />
        <Scores />
        <Champion />
        <Rules />
      </div>
    </div>
  );
}
