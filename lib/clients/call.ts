/**
 * One logical call as the client's interceptors (tracing.ts, retrying.ts) see it. The client puts a
 * CallContext into undici's dispatch options as `call`; the interceptors read it and report back
 * through it (the attempt under way, the last latency, a fault of our own).
 */
import type { Dispatcher } from "undici";

export type HeaderMap = Record<string, string | string[] | undefined>;

export interface ClientCounters {
  requests: number;
  retries: number;
  http5xx: number;
  networkErrors: number;
  /** Largest absolute clock skew seen against a server Date header, in ms. */
  maxClockSkewMs: number;
}

/** One logical call, as the interceptors see it; they report back through `attempt`, `latencyMs`, `fault`. */
export interface CallContext {
  endpoint: string;
  method: string;
  url: string;
  /** Request headers and body as the trace records them. */
  headers: Record<string, string>;
  body: unknown;
  idempotencyKey?: string;
  /** False for a POST without an Idempotency-Key, or when the caller turned retries off. */
  canRetry: boolean;
  /** Marketplace envelope (secrets are read below `data`) or a bare body. */
  enveloped: boolean;
  secretsOf?: (data: unknown) => Array<string | undefined>;
  /** The step's signal: a retry pause ends, and no further attempt starts, once it aborts. */
  signal?: AbortSignal;
  /** The attempt under way, from 1; retrying advances it. */
  attempt: number;
  /** Latency of the last answered attempt in ms, body included (set by tracing). */
  latencyMs: number;
  /** The current attempt's status line and headers arrived (set by retrying): a later stall is the body's. */
  answered?: boolean;
  /** Set when our own code (a trace write, the anomaly sink) threw: the call rethrows it unwrapped. */
  fault?: { error: unknown };
}

export type CallDispatchOptions = Dispatcher.DispatchOptions & { call?: CallContext };

/** Runs our own code inside a dispatch; if it throws, records the fault on the call and returns it. */
export function guard(ctx: CallContext, f: () => void): { error: unknown } | null {
  try {
    f();
    return null;
  } catch (error) {
    ctx.fault = { error };
    return ctx.fault;
  }
}
