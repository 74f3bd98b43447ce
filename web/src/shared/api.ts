// Staff REST client: session cookie + X-CSRF-Token on changes; errors carry the server's code and message.
export interface ApiErrorBody {
  error?: { code?: string; message?: string; fields?: { field: string; problem: string }[]; [key: string]: unknown };
}

export class ApiError extends Error {
  constructor(
    message: string,
    public status: number,
    public code: string,
    public fields: { field: string; problem: string }[] = [],
    /** The whole `error` object (e.g. the knowledge-base import's `errors: [{row, column, message}]`). */
    public details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function readCookie(name: string): string | null {
  for (const part of document.cookie.split(";")) {
    const [k, ...rest] = part.trim().split("=");
    if (k === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

let csrfToken: string | null = sessionStorage.getItem("kefu.csrf");

export function setCsrf(token: string | null): void {
  csrfToken = token;
  if (token) sessionStorage.setItem("kefu.csrf", token);
  else sessionStorage.removeItem("kefu.csrf");
}

export function currentLang(): string {
  return localStorage.getItem("kefu.lang") || "zh-CN";
}

export async function api<T = unknown>(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<T> {
  const headers: Record<string, string> = { "Accept-Language": currentLang().startsWith("en") ? "en" : "zh-CN" };
  if (method !== "GET" && method !== "HEAD") {
    const token = readCookie("kefu_csrf") || csrfToken;
    if (token) headers["X-CSRF-Token"] = token;
  }
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const resp = await fetch(path.startsWith("/") ? path : `/api/v1/${path}`, {
    method,
    headers,
    body: payload,
    credentials: "same-origin",
    ...init,
  });
  if (resp.status === 204) return undefined as T;
  const text = await resp.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const err = (data as ApiErrorBody | null)?.error;
    const fields = err?.fields ?? [];
    const detail = fields.length ? ` (${fields.map((f) => `${f.field}: ${f.problem}`).join("; ")})` : "";
    throw new ApiError((err?.message || `HTTP ${resp.status}`) + detail, resp.status, err?.code || "http", fields, err ?? {});
  }
  return data as T;
}

export const get = <T>(path: string) => api<T>("GET", path);
export const post = <T>(path: string, body?: unknown) => api<T>("POST", path, body ?? {});
export const patch = <T>(path: string, body: unknown) => api<T>("PATCH", path, body);
export const put = <T>(path: string, body?: unknown) => api<T>("PUT", path, body ?? {});
export const del = <T>(path: string) => api<T>("DELETE", path);

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  page_size: number;
}

/** Every item of a paged list (page_size 100, at most `limit` items). */
export async function getAll<T>(path: string, limit = 2000): Promise<T[]> {
  const out: T[] = [];
  const sep = path.includes("?") ? "&" : "?";
  for (let page = 1; out.length < limit; page++) {
    const res = await get<Page<T>>(`${path}${sep}page=${page}&page_size=100`);
    out.push(...res.items);
    if (res.items.length < 100 || out.length >= res.total) break;
  }
  return out;
}

let openapiPaths: Promise<Set<string>> | null = null;

/** Paths of the running server's OpenAPI: screens for optional areas (knowledge base…) appear only when present. */
export function serverPaths(): Promise<Set<string>> {
  if (!openapiPaths) {
    openapiPaths = fetch("/openapi.json")
      .then((r) => (r.ok ? r.json() : { paths: {} }))
      .then((doc: { paths?: Record<string, unknown> }) => new Set(Object.keys(doc.paths ?? {})))
      .catch(() => new Set<string>());
  }
  return openapiPaths;
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
