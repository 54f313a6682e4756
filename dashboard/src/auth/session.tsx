// The logged-in user: the session token (kept in sessionStorage, so a reload keeps you logged
// in but closing the tab ends it), the role, and what it may do.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { api, onSessionExpired, setSessionToken } from "../api/client";
import type { Role } from "../api/types";
import { permissionsOf, type Permission } from "./permissions";

const STORAGE_KEY = "fraudwatch.session";

export interface SessionState {
  token: string;
  username: string;
  role: Role;
  permissions: string[] | null;
}

interface SessionContextValue {
  session: SessionState | null;
  can: (permission: Permission) => boolean;
  signIn: (state: SessionState) => void;
  signOut: () => void;
}

const SessionContext = createContext<SessionContextValue | null>(null);

function load(): SessionState | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as SessionState) : null;
  } catch {
    return null;
  }
}

export function SessionProvider({ children, initial }: { children: ReactNode; initial?: SessionState | null }) {
  const [session, setSession] = useState<SessionState | null>(() => {
    const state = initial === undefined ? load() : initial;
    setSessionToken(state?.token ?? null);
    return state;
  });

  const signIn = useCallback((state: SessionState) => {
    setSessionToken(state.token);
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state));
    setSession(state);
  }, []);

  const signOut = useCallback(() => {
    if (session) void api.post("/v1/auth/logout").catch(() => undefined);
    setSessionToken(null);
    sessionStorage.removeItem(STORAGE_KEY);
    setSession(null);
  }, [session]);

  useEffect(() => {
    onSessionExpired(() => {
      setSessionToken(null);
      sessionStorage.removeItem(STORAGE_KEY);
      setSession(null);
    });
    return () => onSessionExpired(null);
  }, []);

  const value = useMemo<SessionContextValue>(() => {
    const granted = session ? permissionsOf(session.role, session.permissions) : new Set<Permission>();
    return { session, can: (p) => granted.has(p), signIn, signOut };
  }, [session, signIn, signOut]);

  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error("useSession outside SessionProvider");
  return value;
}

/** Renders its children only when the user may `permission` (a viewer sees no edit buttons). */
export function Can({ permission, children }: { permission: Permission; children: ReactNode }) {
  return useSession().can(permission) ? <>{children}</> : null;
}
