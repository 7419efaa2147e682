/**
 * Shared types of the runbook. One source of truth for the shapes that cross module
 * boundaries (steps, poller, plots, report, archive).
 */

export type Mode = "sandbox" | "staging" | "live";

/** Outcome of one step. SKIPPED always carries a reason. */
export type StepStatus = "PASS" | "FAIL" | "SKIPPED";

/** Overall session outcome, derived from the step results (never typed by hand). */
export type Outcome = "PASS" | "FAIL" | "PARTIAL";

/** Lines of the session trace (1-based, inclusive) that a step wrote. */
export interface TraceRange {
  from: number;
  to: number;
}

export interface StepResult {
  /** 0 = pre-flight, 1..9 = the seed's steps. */
  step: number;
  name: string;
  status: StepStatus;
  /** The seed's "Observed" facts, in display order. Values are already redacted. */
  observed: Record<string, string | number | boolean | null>;
  /** Why it failed or was skipped; one line. */
  reason?: string;
  trace: TraceRange | null;
  startedAt: string; // UTC ISO-8601 with ms and Z
  endedAt: string;
  /** Monotonic duration of the step in milliseconds. */
  durationMs: number;
}

/** One poll attempt (steps 5 and 9). */
export interface PollSample {
  step: 5 | 9;
  attempt: number;
  at: string; // UTC ISO time the request was sent
  /** Seconds since the poll window opened (monotonic). */
  t: number;
  latencyMs: number;
  httpStatus: number | null; // null = network error
  /** Order status seen, or null when the attempt failed. */
  orderStatus: string | null;
  error?: string;
}

/** Something the operator and the auditor should know about, collected from the evidence. */
export interface Anomaly {
  at: string;
  step: number | null;
  kind: "retry" | "http_5xx" | "slow_step" | "clock_skew" | "schema" | "network" | "warning" | "operator";
  message: string;
  traceLine?: number;
}
