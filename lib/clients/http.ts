/**
 * Over 300 lines, not split: the call and the words of its errors (schema issues with what was received, redirects, certificates) belong together.
 *
 * The traced HTTP client. Every request and response is appended to the session trace (redacted
 * before hashing) as it happens; every response body is parsed with the contract's zod schema.
 *
 * Retries: GETs retry on network errors, 429, 502, 503 and 504 with capped exponential backoff and
 * jitter, honouring Retry-After; POSTs retry only when they carry an Idempotency-Key, so a retry
 * can never create a second order or refund. Each retry is recorded as an anomaly. Both are undici
 * interceptors composed onto the client's Agent (tracing.ts, retrying.ts; the policy is in policy.ts):
 * retrying outside, tracing inside, so each attempt lands in the trace. Every call has an overall
 * deadline (headers and the whole body).
 */
import { Agent, type Dispatcher, request } from "undici";
import type { z } from "zod";
import { Login, envelope, errorEnvelope, hsErrorBody, paths, type LoginT } from "../contract";
import { HttpStatusError, NetworkError, SchemaError, type SchemaIssue } from "../errors";
import { redactString, redactedPrefix } from "../evidence/redact";
import { secrets, type SecretRegistry } from "../evidence/secrets";
import type { Trace } from "../evidence/trace";
import type { Anomaly, TraceRange } from "../types";
import type { CallContext, ClientCounters } from "./call";
import { retrying } from "./retrying";
import { tracing } from "./tracing";
import { HTTP_DEFAULTS, certificateError, parseJson, retryAfterMs, sleep, tooDeep } from "./policy";

export { HTTP_DEFAULTS, backoffMs, retryAfterMs, sleep } from "./policy";
export type { ClientCounters } from "./call";

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
  /** Cancels the call (and any retry pause); defaults to the client's current signal (the step's). */
  signal?: AbortSignal;
  /**
   * The whole call, retries included, must end within this many ms: headers and the complete body
   * (a body that drips one byte at a time never ends otherwise). Default HTTP_DEFAULTS.deadlineMs.
   */
  deadlineMs?: number;
}

export interface CallResult<T> {
  data: T;
  status: number;
  latencyMs: number;
  attempts: number;
  trace: TraceRange;
  /**
   * The answer's own `Date` header (the server's clock, 1 s resolution), or null without one; and
   * when this machine received it (ISO). A backend time is checked against them, never replaced.
   */
  serverDate: string | null;
  receivedAt: string;
}

export interface ClientDeps {
  trace: Trace;
  onAnomaly: (a: Omit<Anomaly, "at">) => void;
  registry?: SecretRegistry;
  /** Random source for jitter (seedable in tests). */
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The running step's signal: every call of the client is cancelled with it. */
  signal?: () => AbortSignal | undefined;
  /**
   * Logs in again when a call needs a token this client lacks (a kernel restart lost it) or the
   * server answers 401: at most once per call, traced like any call. Returns false when it cannot.
   */
  reauth?: () => Promise<boolean>;
  /** Time left (ms) before the running wait must end (a poll's deadline): a call never runs past it. */
  callBudgetMs?: () => number | undefined;
  /** What to run to log in, named by the session's step table: "run step 1 (login)". */
  loginHint?: string;
}

/** The value found at a path of the parsed body, for "got …" in a schema error. */
function valueAt(input: unknown, path: readonly PropertyKey[]): { found: boolean; value: unknown } {
  let v: unknown = input;
  for (const k of path) {
    if (v === null || typeof v !== "object" || !Object.hasOwn(v, k as string))
      return { found: false, value: undefined };
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return { found: true, value: v };
}

const RECEIVED_MAX = 60;

/**
 * What was received, in a few words: a value (quoted, truncated, redacted), the keys of an object,
 * the length of an array, or "nothing" when the field is missing.
 * @example describeReceived("authorized") // "\"authorized\""
 */
export function describeReceived(found: boolean, v: unknown, registry: SecretRegistry = secrets): string {
  if (!found || v === undefined) return "nothing (the field is missing)";
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === "object") {
    const keys = Object.keys(v);
    const list = keys.slice(0, 8).join(", ");
    return keys.length
      ? `an object with keys ${redactString(list, registry)}${keys.length > 8 ? ", …" : ""}`
      : "an empty object";
  }
  const text = typeof v === "string" ? JSON.stringify(v) : String(v);
  return redactedPrefix(text, RECEIVED_MAX, registry).text;
}

/** Zod's issues, each with what was received at its path (`input` is the parsed body). */
export function zodIssues(err: z.ZodError, input?: unknown, registry: SecretRegistry = secrets): SchemaIssue[] {
  return err.issues.map((i) => {
    const at = valueAt(input, i.path);
    return {
      path: i.path.map(String).join("."),
      expected: "expected" in i ? String((i as { expected?: unknown }).expected) : i.code,
      // "Invalid option: expected one of …" → "expected one of …": the received value is said separately.
      message: i.message.replace(/^Invalid (?:option|input|type|value)?:?\s*(?=expected)/i, ""),
      received: input === undefined ? undefined : describeReceived(at.found, at.value, registry),
    };
  });
}

export class ApiClient {
  readonly origin: string;
  readonly counters: ClientCounters = { requests: 0, retries: 0, http5xx: 0, networkErrors: 0, maxClockSkewMs: 0 };
  token: string | null = null;
  private readonly deps: Required<Omit<ClientDeps, "registry" | "signal" | "reauth" | "callBudgetMs" | "loginHint">> &
    Pick<ClientDeps, "signal" | "reauth" | "callBudgetMs" | "loginHint"> & { registry: SecretRegistry };
  private readonly agent: Agent;
  private readonly dispatcher: Dispatcher;

  constructor(origin: string, deps: ClientDeps) {
    this.origin = origin.replace(/\/+$/, "");
    this.deps = { random: Math.random, sleep, registry: secrets, ...deps };
    this.agent = new Agent({
      connect: { timeout: HTTP_DEFAULTS.timeoutMs },
      headersTimeout: HTTP_DEFAULTS.timeoutMs,
      bodyTimeout: HTTP_DEFAULTS.timeoutMs,
      keepAliveTimeout: 4 * 1000, // 4 s
      maxResponseSize: HTTP_DEFAULTS.maxResponseBytes,
    });
    const { trace, registry, onAnomaly, random, sleep: pause } = this.deps;
    // The last interceptor is the outermost: retrying wraps tracing, which wraps the Agent.
    this.dispatcher = this.agent.compose(
      tracing({ trace, registry, counters: this.counters }),
      retrying({ counters: this.counters, onAnomaly, random, sleep: pause }),
    );
  }

  /**
   * Sends one logical call (with safe retries). Throws NetworkError, HttpStatusError, SchemaError, or
   * the signal's reason (InterruptedError) when the step is stopped.
   */
  async call<T extends z.ZodType>(o: CallOptions<T>): Promise<CallResult<z.infer<T>>> {
    if (!o.auth || !this.deps.reauth) return this.send(o);
    // No token in this kernel (restarted after step 1 passed): log in again first, once.
    if (!this.token) await this.deps.reauth();
    try {
      return await this.send(o);
    } catch (err) {
      // A token the server no longer accepts (expired while the operator paid): once more, freshly.
      if (!(err instanceof HttpStatusError) || err.status !== 401 || !this.token) throw err;
      if (!(await this.deps.reauth())) throw err;
      return this.send(o);
    }
  }

  private async send<T extends z.ZodType>(o: CallOptions<T>): Promise<CallResult<z.infer<T>>> {
    const trace = this.deps.trace;
    const stopped = o.signal ?? this.deps.signal?.();
    stopped?.throwIfAborted();
    // An integer number of ms: AbortSignal.timeout refuses anything else.
    const deadlineMs = Math.round(
      Math.min(o.deadlineMs ?? HTTP_DEFAULTS.deadlineMs, this.deps.callBudgetMs?.() ?? Infinity),
    );
    const deadline = AbortSignal.timeout(deadlineMs);
    const signal = stopped ? AbortSignal.any([stopped, deadline]) : deadline;
    const from = trace.seq + 1;
    const url = (o.origin ?? this.origin) + o.path;
    const headers: Record<string, string> = { accept: "application/json", ...(o.headers ?? {}) };
    if (o.body !== undefined) headers["content-type"] = "application/json";
    if (o.idempotencyKey) headers["idempotency-key"] = o.idempotencyKey;
    if (o.auth) {
      if (!this.token)
        throw new HttpStatusError(
          o.method,
          url,
          401,
          `no access token in this kernel and none could be obtained (nothing was sent): ${this.deps.loginHint ?? "run the login step"}`,
          null,
        );
      headers.authorization = `Bearer ${this.token}`;
    }
    const call: CallContext = {
      endpoint: o.endpoint,
      method: o.method,
      url,
      headers,
      body: o.body ?? null,
      idempotencyKey: o.idempotencyKey,
      canRetry: o.retry !== false && (o.method === "GET" || Boolean(o.idempotencyKey)),
      enveloped: o.enveloped !== false,
      secretsOf: o.secretsOf as CallContext["secretsOf"],
      signal,
      attempt: 1,
      latencyMs: 0,
    };
    const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
    const options = { method: o.method, headers, body: payload, dispatcher: this.dispatcher, call, signal };
    let res: Dispatcher.ResponseData | undefined;
    let receivedAt = "";
    let text: string;
    try {
      res = await request(url, options);
      text = await res.body.text();
      receivedAt = new Date().toISOString();
    } catch (err) {
      if (stopped?.aborted) throw stopped.reason;
      if (call.fault) throw call.fault.error;
      if (deadline.aborted)
        throw new NetworkError(
          o.method,
          url,
          new Error(
            `${res || call.answered ? "body not finished" : "no answer"} after ${Math.round(deadlineMs / 1000)} s: the server is slow or stuck; the call was abandoned`,
          ),
        );
      const cert = certificateError(err);
      if (cert)
        throw new NetworkError(
          o.method,
          url,
          new Error(
            `TLS certificate of ${new URL(url).host} refused: ${cert.code} (${cert.message}); check the URL's host, or trust its CA with NODE_EXTRA_CA_CERTS — never turn verification off`,
          ),
        );
      throw new NetworkError(o.method, url, err);
    }
    const status = res.statusCode;
    const json = parseJson(text);
    const range = { from, to: trace.seq };
    if (status >= 300 && status < 400) {
      const location = res.headers.location;
      const where = Array.isArray(location) ? location[0] : location;
      const e = new HttpStatusError(
        o.method,
        url,
        status,
        `redirected to ${where ? redactString(where.slice(0, 300), this.deps.registry) : "(no Location header)"}; redirects are not followed: point the runbook at the origin that answers directly`,
        null,
      );
      throw Object.assign(e, { trace: range, retryAfterMs: null });
    }
    if (status < 200 || status >= 300) {
      const e = this.statusError(o, url, status, text, json);
      throw Object.assign(e, { trace: range, retryAfterMs: retryAfterMs(res.headers["retry-after"]) });
    }
    // A body nested too deeply is refused before anything walks it (it is traced as text).
    const deep = tooDeep(text);
    const schema = o.enveloped === false ? o.schema : envelope(o.schema);
    const parsed = deep ? null : schema.safeParse(json);
    if (!parsed?.success) {
      const contentType = [res.headers["content-type"]].flat()[0] ?? "missing";
      // A body that is not JSON at all (an HTML error page, a proxy's login form) says so.
      const issues: SchemaIssue[] = deep
        ? [
            {
              path: "",
              expected: `JSON nested at most ${HTTP_DEFAULTS.maxJsonDepth} levels`,
              message: `${deep}; the trace keeps it as text`,
            },
          ]
        : json === undefined || !parsed
          ? [
              {
                path: "",
                expected: "JSON",
                message: `not JSON (content-type ${redactString(contentType.slice(0, 100), this.deps.registry)}, ${Buffer.byteLength(text)} bytes)`,
              },
            ]
          : zodIssues(parsed.error, json, this.deps.registry).map((i) => ({
              ...i,
              path: o.enveloped === false ? i.path : i.path.replace(/^data\.?/, ""),
            }));
      const e = new SchemaError(o.endpoint, issues);
      this.deps.onAnomaly({
        step: null,
        kind: "schema",
        message: `${e.message} [${issues.map((i) => `${i.path}: ${i.received ? `got ${i.received}, ` : ""}${i.message}`).join("; ")}]`,
      });
      throw Object.assign(e, { trace: { from, to: trace.seq } });
    }
    const data = (o.enveloped === false ? parsed.data : (parsed.data as { data: unknown }).data) as z.infer<T>;
    const date = [res.headers.date].flat()[0];
    return {
      data,
      status,
      latencyMs: call.latencyMs,
      attempts: call.attempt,
      trace: range,
      serverDate: typeof date === "string" && date ? date : null,
      receivedAt,
    };
  }

  /**
   * A non-2xx answer as an error. The marketplace's body is its envelope (`{success:false, error, code}`);
   * the orchestrator's (`enveloped: false`) is Hyperswitch's `{error:{type, code, message}}`, whose
   * code and type are kept (`serverCode`, `serverType`) and lead the message: "HE_02 (invalid_request): …".
   * Anything else is kept as its first 200 characters, redacted.
   */
  private statusError(
    o: { method: string; enveloped?: boolean },
    url: string,
    status: number,
    text: string,
    json: unknown,
  ) {
    const cut = (s: string) => redactedPrefix(s, 200, this.deps.registry).text || null;
    if (o.enveloped === false) {
      const hs = hsErrorBody.safeParse(json);
      if (hs.success) {
        const { type, code, message } = hs.data.error;
        const said = cut(`${code} (${type})${message ? `: ${message}` : ""}`);
        return new HttpStatusError(o.method, url, status, said, cut(code), cut(type));
      }
    }
    const err = errorEnvelope.safeParse(json);
    return new HttpStatusError(
      o.method,
      url,
      status,
      cut(err.success ? err.data.error : text),
      err.success ? (err.data.code ?? null) : null,
    );
  }

  /** Closes pooled sockets. Safe to call twice. */
  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}

/**
 * POST /auth/login with the operator's credentials: the tokens are registered as secrets before
 * the response is traced, and the access token is kept on the client for later calls.
 * @example const me = await logIn(api, { email, password }); me.user.id
 */
export async function logIn(api: ApiClient, credentials: { email: string; password: string }): Promise<LoginT> {
  const res = await api.call({
    method: "POST",
    path: paths.login(),
    endpoint: "POST /auth/login",
    schema: Login,
    body: credentials,
    secretsOf: (d) => [d.access_token, d.refresh_token],
  });
  api.token = res.data.access_token;
  return res.data;
}
