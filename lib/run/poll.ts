/**
 * Polling with a deadline (steps 5 and 9). Fast right after the change is expected, then gentler on
 * the backend (POLL_DEFAULTS.schedule), every pause stretched by a random 0–20 % so many pollers do
 * not march in step; Retry-After is honoured and errors back off; no pause is shorter than the floor
 * and none goes past the deadline: the last attempt lands at the deadline. Every attempt becomes a
 * PollSample and a `poll_attempt` trace event that records the planned pause and the next attempt's
 * time, so the evidence shows the schedule; a progress callback lets the notebook update one line in
 * place. The step's AbortSignal stops it between or during attempts: an attempt answered after the
 * abort is not recorded, so nothing is written for a stopped step.
 */
import { DeadlineError, SchemaError, oneLine } from "../errors";
import { sleep } from "../clients/http";
import type { Trace } from "../evidence/trace";
import type { PollSample } from "../types";

export const POLL_DEFAULTS = {
  // 4 requests/s for the first 10 s (median detection lag ≈ 150 ms), then ~1 s, then ~5 s after a
  // minute: a stuck 5-minute window costs ≤ 40 + 50 + 48 requests (+ the one at the deadline), and
  // jitter only ever lengthens a pause, so no draw can push it over the budget of 150.
  schedule: [
    { untilS: 10, everyMs: 250 },
    { untilS: 60, everyMs: 1000 },
    { untilS: Infinity, everyMs: 5000 },
  ],
  /** Each pause is the schedule's × (1 + jitter × a random draw in [0, 1)). */
  jitter: 0.2,
  /** No pause is shorter, whatever the server or the deadline says. */
  floorMs: 250,
  errorBackoffCapMs: 10 * 1000, // 10 s
  /** The most requests a stuck 5-minute window may cost (issue 15). */
  budgetPer5Min: 150,
};

/**
 * The pause after an attempt, from elapsed time, consecutive errors and the server's Retry-After:
 * the schedule's interval (doubled per consecutive error, capped), stretched by jitter, at least
 * Retry-After and the floor. `random` is a draw in [0, 1). The deadline is applied by the poller.
 */
export function nextDelayMs(
  elapsedS: number,
  consecutiveErrors: number,
  retryAfterMs: number | null,
  random: () => number = Math.random,
): number {
  const d = POLL_DEFAULTS;
  const base = d.schedule.find((s) => elapsedS < s.untilS)!.everyMs;
  const backoff = consecutiveErrors > 0 ? Math.min(d.errorBackoffCapMs, base * 2 ** consecutiveErrors) : base;
  const r = Math.min(Math.max(random(), 0), 1);
  const jittered = Math.max(backoff, backoff * (1 + d.jitter * r));
  return Math.round(Math.max(d.floorMs, jittered, retryAfterMs ?? 0));
}

/**
 * The pause before the next attempt, or null when this attempt was the last: a pause that would end
 * past the deadline is cut so the next attempt lands at the deadline, unless less than the floor is
 * left (this attempt was then the one at the deadline).
 */
export function plannedPauseMs(elapsedS: number, deadlineS: number, delayMs: number): number | null {
  const leftMs = Math.floor((deadlineS - elapsedS) * 1000);
  if (leftMs < POLL_DEFAULTS.floorMs) return null;
  return Math.min(delayMs, leftMs);
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
  /** Clocks (monotonic ms, wall ms since the epoch), for tests that drive a window without waiting. */
  clock?: { mono: () => number; wall: () => number };
  /** The jitter's draw in [0, 1) (Math.random unless a test fixes it). */
  random?: () => number;
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
  const mono = o.clock?.mono ?? (() => performance.now());
  const wall = o.clock?.wall ?? Date.now;
  const m0 = mono();
  const samples: PollSample[] = [];
  let errors = 0;
  let http5xx = 0;
  let last: string | null = null;
  for (let attempt = 1; ; attempt++) {
    o.signal?.throwIfAborted();
    const at = new Date(wall()).toISOString();
    const t = (mono() - m0) / 1000;
    let p: Probe;
    let fatal: unknown = null;
    try {
      p = await o.probe();
    } catch (err) {
      // A probe returns transport failures as samples; one that throws (a schema mismatch) cannot
      // get better by waiting, so the poll stops with that error instead of running to the deadline.
      fatal = err;
      p = { status: null, httpStatus: null, latencyMs: mono() - m0 - t * 1000, error: oneLine(err) };
    }
    // Stopped while the attempt was under way: its answer belongs to no step any more.
    o.signal?.throwIfAborted();
    const elapsedS = (mono() - m0) / 1000;
    if (p.httpStatus !== null && p.httpStatus >= 500) http5xx++;
    errors = p.status === null ? errors + 1 : 0;
    if (p.status !== null) last = p.status;
    const reached = p.status !== null && o.done(p.status);
    const hopeless = p.status !== null && !reached ? (o.hopeless?.(p.status) ?? null) : null;
    // The plan is made before the sample is written, so the evidence shows the schedule: a final
    // attempt (target, hopeless, fatal, or the one at the deadline) plans nothing.
    const waitMs =
      fatal || reached || hopeless
        ? null
        : plannedPauseMs(elapsedS, o.deadlineS, nextDelayMs(elapsedS, errors, p.retryAfterMs ?? null, o.random));
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
      ...(waitMs !== null ? { pauseMs: waitMs, nextAt: new Date(wall() + waitMs).toISOString() } : {}),
    };
    samples.push(sample);
    o.trace.append("poll_attempt", sample);
    o.onSample?.(sample, elapsedS);
    if (fatal) throw fatal;
    if (reached) return { samples, reached: true, reachedAt: at, elapsedS: t, lastStatus: last, http5xx };
    // Asked after the plan is written: a stop here cancels the planned attempt (the step says why).
    const stopped = hopeless ?? (o.stop ? await o.stop() : null);
    if (stopped)
      return { samples, reached: false, reachedAt: null, elapsedS, lastStatus: last, http5xx, failure: stopped };
    if (waitMs === null) {
      const e = new DeadlineError(o.what, o.deadlineS, last);
      return { samples, reached: false, reachedAt: null, elapsedS, lastStatus: last, http5xx, failure: e.message };
    }
    // The next attempt keeps to the recorded time: the time `stop` took comes out of the pause.
    await pause(Math.max(0, Math.round(m0 + elapsedS * 1000 + waitMs - mono())), o.signal);
  }
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;
