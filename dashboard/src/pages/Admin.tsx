import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { ApiError, api } from "../api/client";
import type { Backtest, Role, Rule, RuleSet, Thresholds, User } from "../api/types";
import { Can, useSession } from "../auth/session";
import { RuleEditor, RuleTable } from "../components/RuleEditor";
import { KeyValues, Panel, QueryState, Tabs } from "../components/ui";
import { count, label, percent, when } from "../lib/format";

type Section = "rules" | "lists" | "thresholds" | "users";

function errorText(error: unknown): string {
  if (error instanceof ApiError) {
    const problems = (error.body as { problems?: unknown } | null)?.problems;
    if (Array.isArray(problems) && problems.length) return `${error.detail}: ${problems.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join("; ")}`;
    return error.detail;
  }
  return error instanceof Error ? error.message : String(error);
}

const NEW_RULE: Rule = { name: "new_rule", condition: "amount > 1000", action: "review", weight: 0, shadow: true, description: "" };

function BacktestResult({ result }: { result: Backtest }) {
  return (
    <div className="backtest" data-testid="backtest">
      <KeyValues
        entries={[
          ["Transactions replayed", count(result.transactions)],
          ["Labelled", count(result.labelled)],
          ["Hits (all rules)", `${count(result.total.hits)} · precision ${percent(result.total.precision)} · recall ${percent(result.total.recall)}`],
          ["Decisions it would change", count(result.changed.count)],
        ]}
      />
      {Object.keys(result.changed.by_transition).length > 0 && (
        <div className="rule-tags">
          {Object.entries(result.changed.by_transition).map(([move, n]) => (
            <span key={move} className="tag">
              {move.replace(/_/g, " ")}: {count(n)}
            </span>
          ))}
        </div>
      )}
      <table className="grid compact">
        <thead>
          <tr>
            <th>Rule</th>
            <th className="num">Hits</th>
            <th className="num">Precision</th>
            <th className="num">Recall</th>
          </tr>
        </thead>
        <tbody>
          {result.per_rule.map((r) => (
            <tr key={r.rule}>
              <td className="mono">{r.rule}</td>
              <td className="num">{count(r.hits)}</td>
              <td className="num">{percent(r.precision)}</td>
              <td className="num">{percent(r.recall)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function RulesSection() {
  const { can } = useSession();
  const client = useQueryClient();
  const sets = useQuery({ queryKey: ["rule-sets"], queryFn: ({ signal }) => api.get<RuleSet[]>("/v1/rule-sets", { signal }) });
  const [version, setVersion] = useState<number | null>(null);
  const [rules, setRules] = useState<Rule[]>([]);
  const [notes, setNotes] = useState("");
  const [dirty, setDirty] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [backtest, setBacktest] = useState<Backtest | null>(null);
  const all = sets.data ?? [];
  const current = all.find((s) => s.version === version) ?? null;
  const active = all.find((s) => s.active === true || s.status === "active") ?? [...all].reverse().find((s) => s.status === "published") ?? null;
  const editable = current?.status === "draft" && can("rules.edit");

  useEffect(() => {
    if (version === null && all.length) setVersion((all.find((s) => s.status === "draft") ?? active ?? all[all.length - 1]).version);
  }, [all, version, active]);
  useEffect(() => {
    if (current) {
      setRules(current.rules);
      setNotes(current.notes);
      setDirty(false);
      setBacktest(null);
    }
  }, [current]);

  const run = useMutation({
    mutationFn: async (action: () => Promise<string>) => action(),
    onSuccess: (text) => {
      setMessage(text);
      void client.invalidateQueries({ queryKey: ["rule-sets"] });
    },
    onError: () => setMessage(null),
  });

  const body = () => ({ rules, lists: current?.lists ?? [], notes });
  const newDraft = () =>
    run.mutate(async () => {
      const source = active ?? current;
      const created = await api.post<RuleSet>("/v1/rule-sets", { rules: source?.rules ?? [], lists: source?.lists ?? [], notes: source ? `from version ${source.version}` : "" });
      setVersion(created.version);
      return `Draft version ${created.version} created${source ? ` from version ${source.version}` : ""}.`;
    });
  const save = () =>
    run.mutate(async () => {
      await api.put("/v1/rule-sets/{version}", body(), { params: { version: version! } });
      setDirty(false);
      return `Draft ${version} saved.`;
    });
  const doBacktest = () =>
    run.mutate(async () => {
      setBacktest(await api.post<Backtest>("/v1/rules/backtest", { rules, lists: current?.lists ?? [] }));
      return "Backtest done over the stored decisions.";
    });
  const publish = () =>
    run.mutate(async () => {
      if (dirty) await api.put("/v1/rule-sets/{version}", body(), { params: { version: version! } });
      await api.post("/v1/rule-sets/{version}/publish", { activate: true }, { params: { version: version! } });
      setDirty(false);
      return `Version ${version} published and active on every scorer within seconds.`;
    });

  const change = (index: number, rule: Rule) => {
    setRules((rs) => rs.map((r, i) => (i === index ? rule : r)));
    setDirty(true);
  };

  return (
    <QueryState query={sets} what="rule sets">
      {() => (
        <div className="admin-rules">
          <aside className="versions" aria-label="Versions">
            <Can permission="rules.edit">
              <button type="button" className="button primary small" onClick={newDraft} disabled={run.isPending}>
                New draft{active ? ` from v${active.version}` : ""}
              </button>
            </Can>
            {!active && <p className="small muted">No published version is active: scorers run the built-in starter set.</p>}
            <ul>
              {[...all].reverse().map((s) => (
                <li key={s.version}>
                  <button type="button" className={s.version === version ? "version active" : "version"} onClick={() => setVersion(s.version)}>
                    <span className="mono">v{s.version}</span>
                    <span className={`tag ${s.status === "draft" ? "warn" : s.version === active?.version ? "ok" : ""}`}>{s.version === active?.version ? "active" : s.status}</span>
                    <span className="muted small">{s.rules.length} rules</span>
                  </button>
                </li>
              ))}
            </ul>
          </aside>
          <div className="editor">
            {current ? (
              <>
                <div className="editor-head">
                  <h3>
                    Version {current.version} <span className="muted small">{current.status === "draft" ? "draft" : `published ${when((current.published_at as string | null) ?? null)} by ${String(current.published_by ?? "—")}`}</span>
                  </h3>
                  <div className="actions">
                    {editable && (
                      <>
                        <button type="button" className="button subtle small" onClick={() => { setRules((rs) => [...rs, { ...NEW_RULE, name: `new_rule_${rs.length + 1}` }]); setDirty(true); }}>
                          Add rule
                        </button>
                        <button type="button" className="button subtle small" onClick={save} disabled={!dirty || run.isPending}>
                          Save draft
                        </button>
                      </>
                    )}
                    <Can permission="rules.edit">
                      <button type="button" className="button subtle small" onClick={doBacktest} disabled={run.isPending}>
                        Backtest
                      </button>
                    </Can>
                    {current.status === "draft" && (
                      <Can permission="rules.publish">
                        <button type="button" className="button primary small" onClick={publish} disabled={run.isPending}>
                          Publish
                        </button>
                      </Can>
                    )}
                  </div>
                </div>
                {message && !run.error && <p className="notice" role="status">{message}</p>}
                {run.error && <p className="form-error" role="alert">{errorText(run.error)}</p>}
                {backtest && <BacktestResult result={backtest} />}
                {editable && (
                  <input aria-label="Notes" className="description" placeholder="Notes for this version" value={notes} onChange={(e) => { setNotes(e.target.value); setDirty(true); }} />
                )}
                {!editable && <RuleTable rules={rules} />}
                <div className="rules" hidden={!editable}>
                  {editable && rules.map((rule, i) => (
                    <RuleEditor key={i} rule={rule} lists={current.lists} readOnly={!editable} onChange={(r) => change(i, r)} onRemove={() => { setRules((rs) => rs.filter((_, j) => j !== i)); setDirty(true); }} />
                  ))}
                  {rules.length === 0 && <p className="muted">No rules in this version.</p>}
                </div>
              </>
            ) : (
              <p className="muted">No rule set version yet{can("rules.edit") ? ": create a draft to start." : "."}</p>
            )}
          </div>
        </div>
      )}
    </QueryState>
  );
}

function ListsSection() {
  const client = useQueryClient();
  const { can } = useSession();
  const lists = useQuery({ queryKey: ["lists"], queryFn: ({ signal }) => api.get<Record<string, number>>("/v1/lists", { signal }) });
  const [name, setName] = useState<string | null>(null);
  const [values, setValues] = useState("");
  const [note, setNote] = useState("");
  const [newName, setNewName] = useState("");
  const chosen = name ?? Object.keys(lists.data ?? {})[0] ?? null;
  const content = useQuery({
    queryKey: ["list", chosen],
    queryFn: ({ signal }) => api.get<{ name: string; values: string[] }>("/v1/lists/{name}", { params: { name: chosen! }, signal }),
    enabled: chosen !== null && can("lists.edit"),
  });
  const change = useMutation({
    mutationFn: async ({ list, remove }: { list: string; remove: boolean }) => {
      const items = values.split(/[\n,]/).map((v) => v.trim()).filter(Boolean);
      const path = remove ? "/v1/lists/{name}/remove" : "/v1/lists/{name}";
      return api.post<Record<string, number>>(path, { values: items, note: note || null }, { params: { name: list } });
    },
    onSuccess: (_, { list }) => {
      setValues("");
      setName(list);
      void client.invalidateQueries({ queryKey: ["lists"] });
      void client.invalidateQueries({ queryKey: ["list", list] });
    },
  });
  const submit = (remove: boolean) => (event?: FormEvent) => {
    event?.preventDefault();
    const list = newName.trim() || chosen;
    if (list) change.mutate({ list, remove });
  };
  return (
    <QueryState query={lists} what="lists">
      {(data) => (
        <div className="two-col">
          <table className="grid">
            <thead>
              <tr>
                <th>List</th>
                <th className="num">Values</th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(data).map(([n, size]) => (
                <tr key={n} className={`clickable${n === chosen ? " cursor" : ""}`} onClick={() => setName(n)}>
                  <td className="mono">{n}</td>
                  <td className="num">{count(size)}</td>
                </tr>
              ))}
              {Object.keys(data).length === 0 && (
                <tr>
                  <td colSpan={2} className="muted">No named lists yet.</td>
                </tr>
              )}
            </tbody>
          </table>
          <div>
            {chosen && can("lists.edit") && (
              <QueryState query={content} what="values">
                {(c) => (
                  <div className="values">
                    <h3 className="mono">{c.name}</h3>
                    <ul className="value-list">
                      {c.values.slice(0, 200).map((v) => (
                        <li key={v} className="mono">{v.length > 40 ? `${v.slice(0, 18)}…${v.slice(-8)}` : v}</li>
                      ))}
                    </ul>
                    {c.values.length > 200 && <p className="muted small">and {count(c.values.length - 200)} more</p>}
                  </div>
                )}
              </QueryState>
            )}
            <Can permission="lists.edit">
              <form className="list-form" onSubmit={submit(false)}>
                <input aria-label="List name" placeholder={chosen ? `list (default ${chosen})` : "list name"} value={newName} onChange={(e) => setNewName(e.target.value)} />
                <textarea aria-label="Values" placeholder="Values, one per line (card numbers are tokenised)" rows={3} value={values} onChange={(e) => setValues(e.target.value)} />
                <input aria-label="Reason" placeholder="Why (kept in the audit log)" value={note} onChange={(e) => setNote(e.target.value)} />
                <div className="actions">
                  <button type="submit" className="button primary small" disabled={!values.trim() || change.isPending}>
                    Add
                  </button>
                  <button type="button" className="button subtle small" disabled={!values.trim() || change.isPending} onClick={() => submit(true)()}>
                    Remove
                  </button>
                </div>
                {change.error && <p className="form-error" role="alert">{errorText(change.error)}</p>}
              </form>
            </Can>
          </div>
        </div>
      )}
    </QueryState>
  );
}

function ThresholdsSection() {
  const client = useQueryClient();
  const { can } = useSession();
  const query = useQuery({ queryKey: ["thresholds"], queryFn: ({ signal }) => api.get<Thresholds>("/v1/policy/thresholds", { signal }) });
  const [draft, setDraft] = useState<Thresholds | null>(null);
  useEffect(() => {
    if (query.data) setDraft(query.data);
  }, [query.data]);
  const save = useMutation({
    mutationFn: (t: Thresholds) => api.put<Thresholds>("/v1/policy/thresholds", { review: t.review, step_up: t.step_up, block: t.block }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["thresholds"] }),
  });
  return (
    <QueryState query={query} what="thresholds">
      {(t) => (
        <form
          className="thresholds"
          onSubmit={(e) => {
            e.preventDefault();
            if (draft) save.mutate(draft);
          }}
        >
          <p className="muted small">A risk score at or above a threshold gets that outcome (source: {t.source ?? "configuration"}).</p>
          {(["review", "step_up", "block"] as const).map((k) => (
            <label key={k} className={`threshold outcome-${k}`}>
              <span className={`badge outcome-${k}`}>{label(k)}</span>
              <input type="range" min={0} max={1} step={0.01} value={draft?.[k] ?? t[k]} disabled={!can("policy.edit")} onChange={(e) => setDraft({ ...(draft ?? t), [k]: Number(e.target.value) })} aria-label={`${label(k)} threshold`} />
              <span className="mono">{(draft?.[k] ?? t[k]).toFixed(2)}</span>
            </label>
          ))}
          <Can permission="policy.edit">
            <button type="submit" className="button primary small" disabled={save.isPending}>
              Save thresholds
            </button>
          </Can>
          {save.error && <p className="form-error" role="alert">{errorText(save.error)}</p>}
          {save.isSuccess && <p className="notice">Saved: every scorer applies them within seconds.</p>}
        </form>
      )}
    </QueryState>
  );
}

function UsersSection() {
  const client = useQueryClient();
  const { session } = useSession();
  const users = useQuery({ queryKey: ["users"], queryFn: ({ signal }) => api.get<User[]>("/v1/users", { signal }) });
  const [form, setForm] = useState({ username: "", role: "analyst" as Role, password: "" });
  const create = useMutation({
    mutationFn: () => api.post("/v1/users", form),
    onSuccess: () => {
      setForm({ username: "", role: "analyst", password: "" });
      void client.invalidateQueries({ queryKey: ["users"] });
    },
  });
  const reset = useMutation({
    mutationFn: (username: string) => api.post("/v1/users/{username}/reset-second-factor", {}, { params: { username } }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["users"] }),
  });
  const disable = useMutation({
    mutationFn: (username: string) => api.post("/v1/users/{username}/disable", {}, { params: { username } }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["users"] }),
  });
  return (
    <QueryState query={users} what="users">
      {(data) => (
        <div className="two-col">
          <table className="grid">
            <thead>
              <tr>
                <th>User</th>
                <th>Role</th>
                <th>MFA</th>
                <th>Status</th>
                <th>Last login</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {data.map((u) => (
                <tr key={u.username}>
                  <td>{u.username}</td>
                  <td>
                    <span className={`role role-${u.role}`}>{u.role}</span>
                  </td>
                  <td>{u.mfa_enabled ? "on" : <span className="muted">off</span>}</td>
                  <td>{u.disabled ? <span className="tag danger">disabled</span> : <span className="tag ok">active</span>}</td>
                  <td>{u.last_login_at ? when(String(u.last_login_at)) : <span className="muted">never</span>}</td>
                  <td className="actions">
                    {Boolean(u.mfa_enabled) && u.username !== session?.username && (
                      <button type="button" className="link small" title="A lost device: they set up a new second factor at their next login" onClick={() => window.confirm(`Reset ${u.username}'s second factor?`) && reset.mutate(u.username)}>
                        reset 2FA
                      </button>
                    )}
                    {!u.disabled && u.username !== session?.username && (
                      <button type="button" className="link small danger" onClick={() => window.confirm(`Disable ${u.username}? Their sessions end at once.`) && disable.mutate(u.username)}>
                        disable
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <form
            className="list-form"
            onSubmit={(e) => {
              e.preventDefault();
              create.mutate();
            }}
          >
            <h3>New user</h3>
            <input aria-label="New username" placeholder="username" value={form.username} onChange={(e) => setForm({ ...form, username: e.target.value })} required />
            <select aria-label="New user role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>
              <option value="analyst">analyst</option>
              <option value="viewer">viewer</option>
              <option value="admin">admin</option>
            </select>
            <input aria-label="Initial password" type="password" placeholder="initial password (12+ characters)" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} minLength={12} required />
            <button type="submit" className="button primary small" disabled={create.isPending}>
              Create
            </button>
            {create.error && <p className="form-error" role="alert">{errorText(create.error)}</p>}
            {disable.error && <p className="form-error" role="alert">{errorText(disable.error)}</p>}
            {reset.error && <p className="form-error" role="alert">{errorText(reset.error)}</p>}
          </form>
        </div>
      )}
    </QueryState>
  );
}

export function AdminPage() {
  const { can } = useSession();
  const [section, setSection] = useState<Section>("rules");
  const options: { value: Section; label: string }[] = [
    { value: "rules", label: "Rule sets" },
    { value: "lists", label: "Lists" },
    { value: "thresholds", label: "Thresholds" },
  ];
  if (can("users.admin")) options.push({ value: "users", label: "Users" });
  return (
    <div className="page">
      <header className="page-head">
        <h1>Admin</h1>
        {!can("rules.edit") && <span className="tag">read only</span>}
      </header>
      <Tabs label="Section" value={section} onChange={setSection} options={options} />
      <Panel>
        {section === "rules" && <RulesSection />}
        {section === "lists" && <ListsSection />}
        {section === "thresholds" && <ThresholdsSection />}
        {section === "users" && can("users.admin") && <UsersSection />}
      </Panel>
    </div>
  );
}
