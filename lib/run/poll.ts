/**
 * Polling with a deadline (steps 5 and 9). The interval adapts: quick while a change is likely
 * (the first 20 s), then gentler on the backend; Retry-After is honoured and errors back off.
 * Every attempt becomes a PollSample and a `poll_attempt` trace event; a progress callback lets
 * the notebook update one line in place. The step's AbortSignal stops it between or during attempts:
 * an attempt answered after the abort is not recorded, so nothing is written for a stopped step.
 */
import { DeadlineError, SchemaError, oneLine } from "../errors";
import { sleep } from "../clients/http";
import type { Trace } from "../evidence/trace";
import type { PollSample } from "../types";

export const POLL_DEFAULTS = {
  // ≤ 4 requests/s while a change is likely, then back off to spare production.
  schedule: [
    { untilS: 20, everyMs: 250 },
    { untilS: 60, everyMs: 500 },
    { untilS: 120, everyMs: 1000 },
    { untilS: Infinity, everyMs: 2000 },
  ],
  errorBackoffCapMs: 10 * 1000, // 10 s
};

/** The pause after an attempt, from elapsed time, consecutive errors and the server's Retry-After. */
export function nextDelayMs(elapsedS: number, consecutiveErrors: number, retryAfterMs: number | null): number {
  const base = POLL_DEFAULTS.schedule.find((s) => elapsedS < s.untilS)!.everyMs;
  const backoff =
    consecutiveErrors > 0 ? Math.min(POLL_DEFAULTS.errorBackoffCapMs, base * 2 ** consecutiveErrors) : base;
  return Math.max(backoff, retryAfterMs ?? 0);
}

export interface Probe {
  /** The state seen (e.g. order status); null when the attempt failed. */
  status: string | null;
  httpStatus: number | null;
  latencyMs: number;
  retryAfterMs?: number | null;
  error?: string;
}

export interface PollOptions {
  step: number;
  what: string; // "order completed"
  deadlineS: number;
  probe: () => Promise<Probe>;
  /** Target reached? */
  done: (status: string) => boolean;
  /** A terminal state that can never reach the target (e.g. `failed`): returns the reason. */
  hopeless?: (status: string) => string | null;
  /** Asked after every attempt: a reason to stop now (another source says the target is unreachable). */
  stop?: () => Promise<string | null> | string | null;
  trace: Trace;
  onSample?: (s: PollSample, elapsedS: number) => void;
  pause?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The step's signal: the poll throws its reason (InterruptedError) as soon as it aborts. */
  signal?: AbortSignal;
}

export interface PollOutcome {
  samples: PollSample[];
  reached: boolean;
  reachedAt: string | null;
  /** Monotonic seconds from the start of the window to the first sample that saw the target. */
  elapsedS: number;
  lastStatus: string | null;
  http5xx: number;
  failure?: string;
}

export async function pollUntil(o: PollOptions): Promise<PollOutcome> {
  const pause = o.pause ?? sleep;
  const m0 = performance.now();
  const samples: PollSample[] = [];
  let errors = 0;
  let http5xx = 0;
  let last: string | null = null;
  for (let attempt = 1; ; attempt++) {
    o.signal?.throwIfAborted();
    const at = new Date().toISOString();
    const t = (performance.now() - m0) / 1000;
    let p: Probe;
    let fatal: unknown = null;
    try {
      p = await o.probe();
    } catch (err) {
      // A probe returns transport failures as samples; one that throws (a schema mismatch) cannot
      // get better by waiting, so the poll stops with that error instead of running to the deadline.
      fatal = err;
      p = { status: null, httpStatus: null, latencyMs: performance.now() - m0 - t * 1000, error: oneLine(err) };
    }
    // Stopped while the attempt was under way: its answer belongs to no step any more.
    o.signal?.throwIfAborted();
    const sample: PollSample = {
      step: o.step,
      attempt,
      at,
      t: round3(t),
      latencyMs: Math.round(p.latencyMs * 10) / 10,
      httpStatus: p.httpStatus,
      orderStatus: p.status,
      ...(p.error ? { error: p.error } : {}),
      ...(fatal instanceof SchemaError ? { errorKind: "schema" as const } : {}),
    };
    samples.push(sample);
    o.trace.append("poll_attempt", sample);
    const elapsedS = (performance.now() - m0) / 1000;
    o.onSample?.(sample, elapsedS);
    if (fatal) throw fatal;
    if (p.httpStatus !== null && p.httpStatus >= 500) http5xx++;
    errors = p.status === null ? errors + 1 : 0;
    if (p.status !== null) last = p.status;
    if (p.status !== null && o.done(p.status)) {
      return { samples, reached: true, reachedAt: at, elapsedS: t, lastStatus: last, http5xx };
    }
    const hopeless = p.status !== null ? (o.hopeless?.(p.status) ?? null) : null;
    const stopped = hopeless ?? (o.stop ? await o.stop() : null);
    if (stopped)
      return { samples, reached: false, reachedAt: null, elapsedS, lastStatus: last, http5xx, failure: stopped };
    const wait = nextDelayMs(elapsedS, errors, p.retryAfterMs ?? null);
    if (elapsedS + wait / 1000 > o.deadlineS) {
      const e = new DeadlineError(o.what, o.deadlineS, last);
      return { samples, reached: false, reachedAt: null, elapsedS, lastStatus: last, http5xx, failure: e.message };
    }
    await pause(wait, o.signal);
  }
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;
