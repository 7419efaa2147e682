/**
 * The traced HTTP client. Every request and response is appended to the session trace (redacted
 * before hashing) as it happens; every response body is parsed with the contract's zod schema.
 *
 * Retries: GETs retry on network errors, 429, 502, 503 and 504 with capped exponential backoff and
 * jitter, honouring Retry-After; POSTs retry only when they carry an Idempotency-Key, so a retry
 * can never create a second order or refund. Each retry is recorded as an anomaly. The loop is
 * hand-written rather than undici's retry interceptor because each attempt must land in the trace.
 */
import { Agent, request } from "undici";
import type { z } from "zod";
import { envelope, errorEnvelope } from "../contract";
import { HttpStatusError, NetworkError, SchemaError, oneLine, type SchemaIssue } from "../errors";
import { secrets, type SecretRegistry } from "../evidence/secrets";
import type { Trace } from "../evidence/trace";
import type { Anomaly, TraceRange } from "../types";

export const HTTP_DEFAULTS = {
  timeoutMs: 15 * 1000, // 15 s per attempt
  maxAttempts: 5,
  backoffBaseMs: 250,
  backoffCapMs: 8 * 1000, // 8 s
  retryAfterCapS: 60, // never sleep longer than 60 s on a server's say-so
  maxBodyLogChars: 20 * 1000,
};

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

export interface CallOptions<T extends z.ZodType> {
  method: "GET" | "POST";
  /** Path below the origin, e.g. `/api/v1/orders`. */
  path: string;
  /** Human name of the endpoint, used in errors: `GET /orders/:id`. */
  endpoint: string;
  schema: T;
  body?: unknown;
  idempotencyKey?: string;
  auth?: boolean;
  /** Marketplace envelope (default) or a bare orchestrator body. */
  enveloped?: boolean;
  /** Disable retries (the poller does its own pacing). */
  retry?: boolean;
  /** Extra request headers (e.g. `api-key` for the orchestrator). */
  headers?: Record<string, string>;
  /** Values in the parsed data to register as secrets before the response is traced. */
  secretsOf?: (data: z.infer<T>) => Array<string | undefined>;
  origin?: string;
}

export interface CallResult<T> {
  data: T;
  status: number;
  latencyMs: number;
  attempts: number;
  trace: TraceRange;
}

export interface ClientCounters {
  requests: number;
  retries: number;
  http5xx: number;
  networkErrors: number;
  /** Largest absolute clock skew seen against a server Date header, in ms. */
  maxClockSkewMs: number;
}

export interface ClientDeps {
  trace: Trace;
  onAnomaly: (a: Omit<Anomaly, "at">) => void;
  registry?: SecretRegistry;
  /** Random source for jitter (seedable in tests). */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Retry-After as seconds or HTTP date → ms (capped); null when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return null;
  const secs = Number(v);
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(v) - now;
  if (!Number.isFinite(ms)) return null;
  return Math.max(0, Math.min(ms, HTTP_DEFAULTS.retryAfterCapS * 1000));
}

/** Capped exponential backoff with full jitter. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(HTTP_DEFAULTS.backoffCapMs, HTTP_DEFAULTS.backoffBaseMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export function zodIssues(err: z.ZodError): SchemaIssue[] {
  return err.issues.map((i) => ({
    path: i.path.map(String).join("."),
    expected: "expected" in i ? String((i as { expected?: unknown }).expected) : i.code,
    message: i.message,
  }));
}

export class ApiClient {
  readonly origin: string;
  readonly counters: ClientCounters = { requests: 0, retries: 0, http5xx: 0, networkErrors: 0, maxClockSkewMs: 0 };
  token: string | null = null;
  private readonly deps: Required<Omit<ClientDeps, "registry">> & { registry: SecretRegistry };
  private readonly agent: Agent;

  constructor(origin: string, deps: ClientDeps) {
    this.origin = origin.replace(/\/+$/, "");
    this.deps = { random: Math.random, sleep, registry: secrets, ...deps };
    this.agent = new Agent({
      connect: { timeout: HTTP_DEFAULTS.timeoutMs },
      headersTimeout: HTTP_DEFAULTS.timeoutMs,
      bodyTimeout: HTTP_DEFAULTS.timeoutMs,
      keepAliveTimeout: 4 * 1000, // 4 s
    });
  }

  /** Sends one logical call (with safe retries). Throws NetworkError, HttpStatusError or SchemaError. */
  async call<T extends z.ZodType>(o: CallOptions<T>): Promise<CallResult<z.infer<T>>> {
    const trace = this.deps.trace;
    const from = trace.seq + 1;
    const canRetry = o.retry !== false && (o.method === "GET" || Boolean(o.idempotencyKey));
    const url = (o.origin ?? this.origin) + o.path;
    const headers: Record<string, string> = { accept: "application/json", ...(o.headers ?? {}) };
    if (o.body !== undefined) headers["content-type"] = "application/json";
    if (o.idempotencyKey) headers["idempotency-key"] = o.idempotencyKey;
    if (o.auth) {
      if (!this.token)
        throw new HttpStatusError(o.method, url, 401, "no access token in this kernel: run step 1 (login) first", null);
      headers.authorization = `Bearer ${this.token}`;
    }
    const payload = o.body === undefined ? undefined : JSON.stringify(o.body);

    for (let attempt = 1; ; attempt++) {
      this.counters.requests++;
      trace.append("request", { endpoint: o.endpoint, method: o.method, url, attempt, headers, body: o.body ?? null });
      const t0 = Date.now();
      const m0 = performance.now();
      let status = 0;
      let resHeaders: Record<string, string | string[] | undefined> = {};
      let text = "";
      try {
        const res = await request(url, { method: o.method, headers, body: payload, dispatcher: this.agent });
        status = res.statusCode;
        resHeaders = res.headers;
        text = await res.body.text();
      } catch (err) {
        const latencyMs = performance.now() - m0;
        this.counters.networkErrors++;
        trace.append("response", { endpoint: o.endpoint, attempt, error: oneLine(err), latency_ms: round(latencyMs) });
        if (canRetry && attempt < HTTP_DEFAULTS.maxAttempts) {
          await this.retryPause(o, attempt, null, `network error: ${oneLine(err)}`);
          continue;
        }
        throw new NetworkError(o.method, url, err);
      }
      const latencyMs = performance.now() - m0;
      this.noteClock(resHeaders.date, t0, Date.now());
      if (status >= 500) this.counters.http5xx++;
      const json = parseJson(text);
      if (json !== undefined && status < 300 && o.secretsOf) {
        // Register tokens before the response reaches the trace, so they are masked by value too.
        const parsed = (o.enveloped === false ? json : (json as { data?: unknown })?.data) as z.infer<T>;
        for (const s of safe(() => o.secretsOf!(parsed)) ?? []) this.deps.registry.add(s, `${o.endpoint} secret`);
      }
      trace.append("response", {
        endpoint: o.endpoint,
        attempt,
        status,
        latency_ms: round(latencyMs),
        headers: pick(resHeaders, ["date", "retry-after", "content-type", "x-request-id"]),
        body: json !== undefined ? json : text.slice(0, HTTP_DEFAULTS.maxBodyLogChars),
      });
      // The first request with this key is still running on the server: waiting is safe.
      const inProgress =
        status === 409 &&
        Boolean(o.idempotencyKey) &&
        (json as { code?: string } | undefined)?.code === "IDEMPOTENCY_IN_PROGRESS";
      if ((RETRYABLE_STATUS.has(status) || inProgress) && canRetry && attempt < HTTP_DEFAULTS.maxAttempts) {
        await this.retryPause(o, attempt, retryAfterMs(resHeaders["retry-after"]), `HTTP ${status}`);
        continue;
      }
      const range = { from, to: trace.seq };
      if (status < 200 || status >= 300) {
        const err = errorEnvelope.safeParse(json);
        const e = new HttpStatusError(
          o.method,
          url,
          status,
          err.success ? err.data.error : text.slice(0, 200) || null,
          err.success ? (err.data.code ?? null) : null,
        );
        throw Object.assign(e, { trace: range, retryAfterMs: retryAfterMs(resHeaders["retry-after"]) });
      }
      const schema = o.enveloped === false ? o.schema : envelope(o.schema);
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        const issues = zodIssues(parsed.error).map((i) => ({
          ...i,
          path: o.enveloped === false ? i.path : i.path.replace(/^data\.?/, ""),
        }));
        const e = new SchemaError(o.endpoint, issues);
        this.deps.onAnomaly({
          step: null,
          kind: "schema",
          message: `${e.message} [${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}]`,
        });
        throw Object.assign(e, { trace: { from, to: trace.seq } });
      }
      const data = (o.enveloped === false ? parsed.data : (parsed.data as { data: unknown }).data) as z.infer<T>;
      return { data, status, latencyMs, attempts: attempt, trace: range };
    }
  }

  /** Closes pooled sockets. Safe to call twice. */
  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }

  private async retryPause(
    o: CallOptions<z.ZodType>,
    attempt: number,
    serverMs: number | null,
    why: string,
  ): Promise<void> {
    const wait = Math.max(serverMs ?? 0, backoffMs(attempt, this.deps.random));
    this.counters.retries++;
    const message = `${o.endpoint}: ${why}; retry ${attempt}/${HTTP_DEFAULTS.maxAttempts - 1} in ${wait} ms${serverMs !== null ? " (Retry-After honoured)" : ""}${o.idempotencyKey ? " with the same Idempotency-Key" : ""}`;
    this.deps.onAnomaly({ step: null, kind: "retry", message });
    await this.deps.sleep(wait);
  }

  private noteClock(date: string | string[] | undefined, t0: number, t1: number): void {
    const d = Array.isArray(date) ? date[0] : date;
    const server = d ? Date.parse(d) : NaN;
    if (!Number.isFinite(server)) return;
    // Date has 1 s resolution: compare against the middle of the round trip, allow the truncation.
    const local = (t0 + t1) / 2;
    const skew = server + 500 - local;
    if (Math.abs(skew) > Math.abs(this.counters.maxClockSkewMs)) this.counters.maxClockSkewMs = Math.round(skew);
  }
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function pick(h: Record<string, string | string[] | undefined>, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) {
    const v = h[k];
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

const round = (n: number) => Math.round(n * 10) / 10;
