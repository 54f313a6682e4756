import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Bar, BarChart, CartesianGrid, ComposedChart, Legend, Line, Tooltip, XAxis, YAxis } from "recharts";
import { api } from "../api/client";
import type { BreakdownItem, GeoItem, Summary, TrendItem } from "../api/types";
import { AXIS, COLOURS, ChartBox, GRID, TOOLTIP } from "../components/charts";
import { Panel, QueryState, Tabs, Tile } from "../components/ui";
import { WorldMap } from "../components/WorldMap";
import { count, day, hour, label, money, percent, short, when } from "../lib/format";

type GeoMetric = "fraud" | "decisions" | "flagged" | "blocked" | "fraud_amount";
type Dimension = "mcc" | "country" | "channel" | "scenario";

const METRICS: { value: GeoMetric; label: string }[] = [
  { value: "fraud", label: "Fraud" },
  { value: "fraud_amount", label: "Fraud amount" },
  { value: "flagged", label: "Flagged" },
  { value: "blocked", label: "Blocked" },
  { value: "decisions", label: "Decisions" },
];

function Geo() {
  const [chosen, setMetric] = useState<GeoMetric | null>(null);
  const [by, setBy] = useState<"merchant" | "customer">("merchant");
  const query = useQuery({ queryKey: ["geo", by], queryFn: ({ signal }) => api.get<{ items: GeoItem[] }>("/v1/analytics/geo", { query: { by }, signal }) });
  // Fraud by default; flagged decisions while no fraud with a known country is labelled yet.
  const anyFraud = (query.data?.items ?? []).some((g) => g.country && g.fraud > 0);
  const metric: GeoMetric = chosen ?? (anyFraud ? "fraud" : "flagged");
  const name = METRICS.find((m) => m.value === metric)!.label;
  return (
    <Panel
      title="Where"
      className="span-2"
      actions={
        <>
          <Tabs label="Metric" value={metric} onChange={setMetric} options={METRICS} />
          <Tabs label="Country of" value={by} onChange={setBy} options={[{ value: "merchant", label: "Merchant" }, { value: "customer", label: "Customer" }]} />
        </>
      }
    >
      <QueryState query={query} what="the map" empty={(d) => (d.items.length ? null : "No decisions in this window.")}>
        {(data) => {
          const values = Object.fromEntries(data.items.filter((g) => g.country).map((g) => [g.country, g[metric]]));
          const top = [...data.items].sort((a, b) => b[metric] - a[metric]).slice(0, 10);
          const fmt = metric === "fraud_amount" ? (v: number) => money(v) : (v: number) => count(v);
          return (
            <div className="geo">
              <WorldMap values={values} format={fmt} metricLabel={name.toLowerCase()} />
              <div className="geo-top-wrap">
              <table className="grid compact geo-top">
                <thead>
                  <tr>
                    <th>Country</th>
                    <th className="num">{name}</th>
                    <th className="num">Decisions</th>
                  </tr>
                </thead>
                <tbody>
                  {top.map((g) => (
                    <tr key={g.country || "unknown"}>
                      <td>{g.country || <span className="muted">unknown</span>}</td>
                      <td className="num">{fmt(g[metric])}</td>
                      <td className="num">{count(g.decisions)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              </div>
            </div>
          );
        }}
      </QueryState>
    </Panel>
  );
}

function Trends() {
  const [bucket, setBucket] = useState<"hour" | "day">("hour");
  const query = useQuery({ queryKey: ["trends", bucket], queryFn: ({ signal }) => api.get<{ items: TrendItem[] }>("/v1/analytics/trends", { query: { bucket }, signal }) });
  const tick = bucket === "hour" ? hour : day;
  return (
    <>
      <Panel title="Decisions and fraud over time" className="span-2" actions={<Tabs label="Bucket" value={bucket} onChange={setBucket} options={[{ value: "hour", label: "By hour" }, { value: "day", label: "By day" }]} />}>
        <QueryState query={query} what="trends" empty={(d) => (d.items.length ? null : "No decisions in this window.")}>
          {(data) => (
            <ChartBox height={260}>
              <ComposedChart data={data.items} margin={{ top: 8, right: 8, left: 0, bottom: 0 }}>
                <CartesianGrid {...GRID} vertical={false} />
                <XAxis dataKey="start" tickFormatter={tick} {...AXIS} minTickGap={24} />
                <YAxis yAxisId="n" {...AXIS} tickFormatter={short} width={48} />
                <YAxis yAxisId="f" orientation="right" {...AXIS} width={36} />
                <Tooltip {...TOOLTIP} labelFormatter={(v) => tick(String(v))} />
                <Legend wrapperStyle={{ fontSize: 12 }} />
                <Bar yAxisId="n" dataKey="approve" stackId="o" fill={COLOURS.approve} name="approve" isAnimationActive={false} />
                <Bar yAxisId="n" dataKey="review" stackId="o" fill={COLOURS.review} name="review" isAnimationActive={false} />
                <Bar yAxisId="n" dataKey="step_up" stackId="o" fill={COLOURS.step_up} name="step up" isAnimationActive={false} />
                <Bar yAxisId="n" dataKey="block" stackId="o" fill={COLOURS.block} name="block" isAnimationActive={false} />
                <Line yAxisId="f" dataKey="fraud" stroke={COLOURS.fraud} strokeWidth={2} dot={false} name="fraud (labelled)" isAnimationActive={false} />
              </ComposedChart>
            </ChartBox>
          )}
        </QueryState>
      </Panel>
      <Panel title="Money blocked vs fraud">
        <QueryState query={query} what="amounts" empty={(d) => (d.items.length ? null : "No decisions in this window.")}>
          {(data) => (
            <ChartBox height={260}>
              <BarChart data={data.items} margin={{ top: 8, right: 8, left: 0, bottom: 0 }}>
                <CartesianGrid {...GRID} vertical={false} />
                <XAxis dataKey="start" tickFormatter={tick} {...AXIS} minTickGap={24} />
                <YAxis {...AXIS} tickFormatter={short} width={48} />
                <Tooltip {...TOOLTIP} labelFormatter={(v) => tick(String(v))} formatter={(v) => money(Number(v))} />
                <Legend wrapperStyle={{ fontSize: 12 }} />
                <Bar dataKey="blocked_amount" fill={COLOURS.blocked} name="blocked" isAnimationActive={false} />
                <Bar dataKey="fraud_amount" fill={COLOURS.lost} name="fraud (labelled)" isAnimationActive={false} />
              </BarChart>
            </ChartBox>
          )}
        </QueryState>
      </Panel>
    </>
  );
}

function Breakdown() {
  const [by, setBy] = useState<Dimension>("mcc");
  const query = useQuery({ queryKey: ["breakdown", by], queryFn: ({ signal }) => api.get<{ items: BreakdownItem[] }>("/v1/analytics/breakdown", { query: { by, limit: 15 }, signal }) });
  return (
    <Panel
      title="Breakdown"
      className="span-3"
      actions={
        <Tabs
          label="By"
          value={by}
          onChange={setBy}
          options={[
            { value: "mcc", label: "MCC" },
            { value: "country", label: "Country" },
            { value: "channel", label: "Channel" },
            { value: "scenario", label: "Scenario" },
          ]}
        />
      }
    >
      <QueryState query={query} what="the breakdown" empty={(d) => (d.items.length ? null : "Nothing to break down in this window.")}>
        {(data) => (
          <div className="breakdown">
            <ChartBox height={Math.max(200, data.items.length * 30 + 40)}>
              <BarChart data={data.items.map((i) => ({ ...i, key: i.key || "unknown" }))} layout="vertical" margin={{ top: 4, right: 12, left: 8, bottom: 0 }}>
                <CartesianGrid {...GRID} horizontal={false} />
                <XAxis type="number" {...AXIS} tickFormatter={short} />
                <YAxis type="category" dataKey="key" {...AXIS} width={110} interval={0} tickFormatter={(v: string) => label(v)} />
                <Tooltip {...TOOLTIP} />
                <Legend wrapperStyle={{ fontSize: 12 }} />
                <Bar dataKey="flagged" fill={COLOURS.review} name="flagged" isAnimationActive={false} />
                <Bar dataKey="fraud" fill={COLOURS.fraud} name="fraud" isAnimationActive={false} />
              </BarChart>
            </ChartBox>
            <table className="grid compact">
              <thead>
                <tr>
                  <th>{by === "mcc" ? "MCC" : label(by)}</th>
                  <th className="num">Decisions</th>
                  <th className="num">Flagged</th>
                  <th className="num">Blocked</th>
                  <th className="num">Fraud</th>
                  <th className="num">Fraud rate</th>
                  <th className="num">Amount</th>
                  <th className="num">Fraud amount</th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((i) => (
                  <tr key={i.key || "unknown"}>
                    <td>{i.key ? label(i.key) : <span className="muted">unknown</span>}</td>
                    <td className="num">{count(i.decisions)}</td>
                    <td className="num">{count(i.flagged)}</td>
                    <td className="num">{count(i.blocked)}</td>
                    <td className="num">{count(i.fraud)}</td>
                    <td className="num">{percent(i.fraud_rate, 2)}</td>
                    <td className="num">{money(i.amount)}</td>
                    <td className="num">{money(i.fraud_amount)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </QueryState>
    </Panel>
  );
}

function Money() {
  const query = useQuery({ queryKey: ["summary"], queryFn: ({ signal }) => api.get<Summary>("/v1/analytics/summary", { signal }) });
  const s = query.data;
  return (
    <div className="tiles">
      <Tile title="Decisions" value={s ? short(s.decisions) : "…"} sub={s ? `${percent(s.flagged_rate)} flagged` : ""} />
      <Tile title="Money blocked" tone="block" value={s ? money(s.blocked_amount) : "…"} />
      <Tile title="Fraud caught" tone="approve" value={s ? money(s.fraud_caught_amount) : "…"} sub={s ? `${count(s.fraud_caught)} transactions` : ""} />
      <Tile title="Fraud lost (approved)" tone="block" value={s ? money(s.fraud_missed_amount) : "…"} sub={s ? `${count(s.fraud_missed)} transactions` : ""} />
      <Tile title="Labelled fraud" value={s ? count(s.labelled_fraud) : "…"} sub={s ? `${count(s.false_positives)} false positives` : ""} />
      <Tile title="Window" value={s ? `${day(s.since)} – ${day(s.until)}` : "…"} sub={s?.rollups_until ? `figures up to ${when(s.rollups_until)}` : undefined} tone="muted" />
    </div>
  );
}

export function AnalyticsPage() {
  return (
    <div className="page">
      <header className="page-head">
        <h1>Analytics</h1>
        <span className="muted small">Amounts are summed as stored, across currencies.</span>
      </header>
      <Money />
      <div className="grid-3">
        <Geo />
        <Panel title="Caught vs lost">
          <CaughtVsLost />
        </Panel>
        <Trends />
        <Breakdown />
      </div>
    </div>
  );
}

function CaughtVsLost() {
  const query = useQuery({ queryKey: ["summary"], queryFn: ({ signal }) => api.get<Summary>("/v1/analytics/summary", { signal }) });
  return (
    <QueryState query={query} what="the summary">
      {(s) => {
        const data = [
          { name: "caught", amount: s.fraud_caught_amount, n: s.fraud_caught },
          { name: "lost", amount: s.fraud_missed_amount, n: s.fraud_missed },
        ];
        const total = s.fraud_caught + s.fraud_missed;
        return (
          <>
            <ChartBox height={190}>
              <BarChart data={data} margin={{ top: 8, right: 8, left: 0, bottom: 0 }}>
                <CartesianGrid {...GRID} vertical={false} />
                <XAxis dataKey="name" {...AXIS} />
                <YAxis {...AXIS} tickFormatter={short} width={48} />
                <Tooltip {...TOOLTIP} formatter={(v) => money(Number(v))} />
                <Bar dataKey="amount" name="amount" isAnimationActive={false} fill={COLOURS.blocked} />
              </BarChart>
            </ChartBox>
            <p className="small">
              {total ? `${percent(s.fraud_caught / total)} of labelled fraud was flagged (${count(s.fraud_caught)} of ${count(total)}).` : "No labelled fraud in this window yet."}
            </p>
          </>
        );
      }}
    </QueryState>
  );
}
