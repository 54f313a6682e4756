// The HTTP client: relative URLs (`/v1/...`), the session as a bearer header, problem+json
// errors turned into `ApiError` with the server's `detail` and `field`.
import type { paths } from "./schema";

/** Every path the dashboard may call: the generated schema's, checked at compile time. */
export type ApiPath = keyof paths;

export type Query = Record<string, string | number | boolean | null | undefined | (string | number)[]>;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly field: string | null = null,
    readonly body: unknown = null,
  ) {
    super(detail);
  }
}

type SessionListener = () => void;

let token: string | null = null;
let onUnauthorized: SessionListener | null = null;

export function setSessionToken(value: string | null): void {
  token = value;
}

export function getSessionToken(): string | null {
  return token;
}

export function onSessionExpired(listener: SessionListener | null): void {
  onUnauthorized = listener;
}

function origin(): string {
  return typeof window === "undefined" ? "http://localhost" : window.location.origin;
}

/** `/v1/cases/{case_id}` with `{case_id: 3}` → `/v1/cases/3`, plus the query string. */
export function buildUrl(path: ApiPath, params: Record<string, string | number> = {}, query: Query = {}): string {
  const filled = (path as string).replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(String(value));
  });
  const url = new URL(filled, origin());
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => url.searchParams.append(name, String(v)));
    else url.searchParams.set(name, String(value));
  }
  return url.pathname + url.search;
}

export function authHeaders(): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function problem(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const record = (body ?? {}) as { detail?: unknown; field?: unknown; problems?: unknown };
  let detail = typeof record.detail === "string" ? record.detail : response.statusText || `HTTP ${response.status}`;
  if (Array.isArray(record.detail)) detail = record.detail.map((d) => (d as { msg?: string }).msg ?? String(d)).join("; ");
  const field = typeof record.field === "string" ? record.field : null;
  return new ApiError(response.status, detail, field, body);
}

export interface RequestOptions {
  params?: Record<string, string | number>;
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
}

export async function request<T>(method: "GET" | "POST" | "PUT" | "DELETE", path: ApiPath, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...authHeaders() };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(new URL(buildUrl(path, options.params, options.query), origin()), {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: options.signal,
  });
  if (!response.ok) {
    const error = await problem(response);
    if (response.status === 401 && token && onUnauthorized) onUnauthorized();
    throw error;
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const api = {
  get: <T>(path: ApiPath, options?: RequestOptions) => request<T>("GET", path, options),
  post: <T>(path: ApiPath, body?: unknown, options?: RequestOptions) => request<T>("POST", path, { ...options, body: body ?? {} }),
  put: <T>(path: ApiPath, body: unknown, options?: RequestOptions) => request<T>("PUT", path, { ...options, body }),
};
