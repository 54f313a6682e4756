import { useState, type FormEvent } from "react";
import { Navigate, useLocation, useNavigate } from "react-router-dom";
import { ApiError, api, setSessionToken } from "../api/client";
import type { Role } from "../api/types";
import { useSession } from "../auth/session";

interface LoginAnswer {
  session: string;
  role: Role;
  second_factor: "required" | "none";
}

interface Me {
  username: string;
  role: Role;
  permissions: string[];
}

type Step = { kind: "password" } | { kind: "code"; login: LoginAnswer } | { kind: "enrol"; login: LoginAnswer; uri: string } | { kind: "recovery"; login: LoginAnswer; codes: string[] };

function secretOf(uri: string): string {
  try {
    return new URL(uri).searchParams.get("secret") ?? "";
  } catch {
    return "";
  }
}

export function LoginPage() {
  const { session, signIn } = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const [step, setStep] = useState<Step>({ kind: "password" });
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const from = (location.state as { from?: string } | null)?.from ?? "/live";

  if (session) return <Navigate to={from} replace />;

  async function finish(login: LoginAnswer) {
    setSessionToken(login.session);
    let me: Me | null = null;
    try {
      me = await api.get<Me>("/v1/auth/me");
    } catch {
      me = null; // older servers: the login answer's role decides
    }
    signIn({ token: login.session, username: me?.username ?? username, role: me?.role ?? login.role, permissions: me?.permissions ?? null });
    navigate(from, { replace: true });
  }

  async function run(action: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(e instanceof ApiError ? e.detail : e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  const onPassword = (event: FormEvent) => {
    event.preventDefault();
    void run(async () => {
      const login = await api.post<LoginAnswer>("/v1/auth/login", { username, password });
      setPassword("");
      if (login.second_factor === "required") {
        setStep({ kind: "code", login });
        setCode("");
      } else {
        await finish(login);
      }
    });
  };

  const onCode = (event: FormEvent) => {
    event.preventDefault();
    if (step.kind !== "code" && step.kind !== "enrol") return;
    const login = step.login;
    void run(async () => {
      setSessionToken(login.session);
      if (step.kind === "enrol") {
        const answer = await api.post<{ recovery_codes: string[] }>("/v1/auth/totp/confirm", { code: code.trim() });
        setStep({ kind: "recovery", login, codes: answer.recovery_codes });
        return;
      }
      try {
        await api.post("/v1/auth/mfa", { code: code.trim() });
      } catch (e) {
        if (e instanceof ApiError && /set up a second factor/i.test(e.detail)) {
          const setup = await api.post<{ otpauth_uri: string }>("/v1/auth/totp");
          setStep({ kind: "enrol", login, uri: setup.otpauth_uri });
          setCode("");
          return;
        }
        throw e;
      } finally {
        setSessionToken(null);
      }
      await finish(login);
    });
  };

  return (
    <div className="login-screen">
      <div className="login-card">
        <div className="brand large">
          <span className="brand-dot" aria-hidden /> fraudwatch
        </div>
        {step.kind === "password" && (
          <form onSubmit={onPassword} aria-label="Sign in">
            <h1>Sign in</h1>
            <label>
              Username
              <input name="username" autoComplete="username" autoFocus value={username} onChange={(e) => setUsername(e.target.value)} required />
            </label>
            <label>
              Password
              <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
            </label>
            {error && <p className="form-error" role="alert">{error}</p>}
            <button type="submit" className="button primary" disabled={busy}>
              {busy ? "Signing in…" : "Continue"}
            </button>
          </form>
        )}
        {(step.kind === "code" || step.kind === "enrol") && (
          <form onSubmit={onCode} aria-label="Second factor">
            <h1>{step.kind === "enrol" ? "Set up your authenticator" : "Second factor"}</h1>
            {step.kind === "enrol" ? (
              <div className="enrol">
                <p>Add this account to an authenticator app, then enter the code it shows.</p>
                <code className="secret">{secretOf(step.uri)}</code>
                <a className="small" href={step.uri}>
                  Open in an authenticator app
                </a>
              </div>
            ) : (
              <p className="muted">Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>
            )}
            <label>
              Code
              <input name="code" inputMode="text" autoComplete="one-time-code" autoFocus value={code} onChange={(e) => setCode(e.target.value)} required minLength={6} maxLength={20} />
            </label>
            {error && <p className="form-error" role="alert">{error}</p>}
            <button type="submit" className="button primary" disabled={busy}>
              {busy ? "Checking…" : "Verify"}
            </button>
            <button type="button" className="link" onClick={() => setStep({ kind: "password" })}>
              Use another account
            </button>
          </form>
        )}
        {step.kind === "recovery" && (
          <div>
            <h1>Recovery codes</h1>
            <p>Each code works once if you lose your authenticator. Store them now: they are not shown again.</p>
            <ul className="codes">
              {step.codes.map((c) => (
                <li key={c}>
                  <code>{c}</code>
                </li>
              ))}
            </ul>
            <button type="button" className="button primary" onClick={() => void finish(step.login)}>
              I stored them — continue
            </button>
          </div>
        )}
      </div>
    </div>
  );
}
