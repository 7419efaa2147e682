/**
 * Tracing as an undici interceptor (as undici composes its own interceptors): each attempt's request is appended to the
 * session trace before it is sent, and its response (or transport error) as soon as it is complete,
 * before the layer above sees it end. Tokens the response carries (CallContext.secretsOf) are
 * registered first, so they are masked by value, and recorded as salted hashes in the session folder
 * (the trace's folder; `SecretRegistry.learn`), so a scan in another process finds them too. It also
 * keeps the client's counters of requests, 5xx answers, network errors and clock skew. A dispatch
 * without a CallContext passes through.
 */
import * as path from "node:path";
import type { Dispatcher } from "undici";
import { oneLine } from "../errors";
import type { SecretRegistry } from "../evidence/secrets";
import { clockSkewMs } from "../evidence/clock";
import { redactedPrefix } from "../evidence/redact";
import type { Trace } from "../evidence/trace";
import { type CallContext, type CallDispatchOptions, type ClientCounters, type HeaderMap, guard } from "./call";
import { HTTP_DEFAULTS, decodeBody, parseJson, tooDeep } from "./policy";

type Handler = Dispatcher.DispatchHandler;
type Controller = Dispatcher.DispatchController;

export interface TracingDeps {
  trace: Trace;
  registry: SecretRegistry;
  counters: ClientCounters;
}

/** Appends each attempt's request, then its response (or transport error), to the trace as it happens. */
export function tracing(deps: TracingDeps): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts, handler) => {
    const ctx = (opts as CallDispatchOptions).call;
    if (!ctx) return dispatch(opts, handler);
    const { endpoint, method, url, attempt, headers, body } = ctx;
    const fault = guard(ctx, () => {
      deps.counters.requests++;
      deps.trace.append("request", { endpoint, method, url, attempt, headers, body });
    });
    if (fault) throw fault.error;
    return dispatch(opts, new TracingHandler(deps, ctx, handler));
  };
}

class TracingHandler implements Handler {
  private status = 0;
  private headers: HeaderMap = {};
  private readonly chunks: Buffer[] = [];
  private readonly m0 = performance.now();

  constructor(
    private readonly deps: TracingDeps,
    private readonly ctx: CallContext,
    private readonly next: Handler,
  ) {}

  onRequestStart(controller: Controller, context: unknown): void {
    this.next.onRequestStart?.(controller, context);
  }

  onResponseStart(controller: Controller, statusCode: number, headers: HeaderMap, statusMessage?: string): void {
    this.status = statusCode;
    this.headers = headers;
    this.next.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    this.chunks.push(chunk);
    this.next.onResponseData?.(controller, chunk);
  }

  /** The response is traced (its secrets registered first) before the layer above sees it end. */
  onResponseEnd(controller: Controller, trailers: HeaderMap): void {
    const fault = guard(this.ctx, () => this.record());
    if (fault) this.next.onResponseError?.(controller, fault.error as Error);
    else this.next.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Controller, err: Error): void {
    const { ctx, deps } = this;
    const fault = guard(ctx, () => {
      const latencyMs = performance.now() - this.m0;
      deps.counters.networkErrors++;
      deps.trace.append("response", {
        endpoint: ctx.endpoint,
        attempt: ctx.attempt,
        error: oneLine(err),
        latency_ms: round(latencyMs),
      });
    });
    this.next.onResponseError?.(controller, fault ? (fault.error as Error) : err);
  }

  private record(): void {
    const { ctx, deps, status, headers } = this;
    const latencyMs = performance.now() - this.m0;
    ctx.latencyMs = latencyMs;
    noteClock(deps.counters, headers.date, Date.now());
    if (status >= 500) deps.counters.http5xx++;
    const text = decodeBody(this.chunks);
    const json = parseJson(text);
    if (json !== undefined && status < 300 && ctx.secretsOf) {
      // Register tokens before the response reaches the trace, so they are masked by value too, and
      // hash them into the session folder (fsynced) before anything can write them anywhere.
      const data = ctx.enveloped ? (json as { data?: unknown })?.data : json;
      const secretsOf = ctx.secretsOf;
      const dir = path.dirname(deps.trace.file);
      for (const s of safe(() => secretsOf(data)) ?? []) deps.registry.learn(s, `${ctx.endpoint} secret`, dir);
    }
    deps.trace.append("response", {
      endpoint: ctx.endpoint,
      attempt: ctx.attempt,
      status,
      latency_ms: round(latencyMs),
      headers: pick(headers, ["date", "retry-after", "content-type", "x-request-id"]),
      ...evidenceBody(text, json, deps.registry),
    });
  }
}

/**
 * What of a body the trace keeps: the parsed JSON, or the text, up to HTTP_DEFAULTS.maxBodyLogChars;
 * a longer body is kept as its redacted first characters with `truncated_from` (its length), so a
 * huge answer neither bloats the evidence nor leaves part of a secret at the cut. A body nested
 * deeper than HTTP_DEFAULTS.maxJsonDepth is kept as its first deepBodyKeepChars characters and a
 * `note` saying why.
 */
export function evidenceBody(text: string, json: unknown, registry: SecretRegistry): Record<string, unknown> {
  const deep = tooDeep(text);
  if (deep) {
    // Never walked (redaction, canonical JSON): kept as its redacted first characters, with a note.
    const kept = redactedPrefix(text, HTTP_DEFAULTS.deepBodyKeepChars, registry);
    return {
      body: kept.text,
      ...(kept.truncatedFrom !== null ? { truncated_from: kept.truncatedFrom } : {}),
      note: `${deep}: kept as text, not as JSON`,
    };
  }
  const max = HTTP_DEFAULTS.maxBodyLogChars;
  if (text.length <= max) return { body: json !== undefined ? json : text };
  const kept = redactedPrefix(text, max, registry);
  return { body: kept.text, truncated_from: kept.truncatedFrom };
}

/** The same skew the report reads back from the trace: Date header against the response's time. */
function noteClock(counters: ClientCounters, date: string | string[] | undefined, at: number): void {
  const skew = clockSkewMs(date, at);
  if (skew !== null && Math.abs(skew) > Math.abs(counters.maxClockSkewMs)) counters.maxClockSkewMs = skew;
}

function pick(h: HeaderMap, keys: string[]): Record<string, string> {
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
