/**
 * Shared types of the runbook. One source of truth for the shapes that cross module
 * boundaries (steps, poller, plots, report, archive).
 */

import type { Money } from "./money";

export type Mode = "sandbox" | "staging" | "live";

/** One observed fact: data, never display text (lib/report/display.ts renders it). */
export type FactValue = string | number | boolean | null | Money;
/** A step's facts, keyed as declared in the step table (lib/run/steps.ts). */
export type Facts = Record<string, FactValue>;

/** Outcome of one step. SKIPPED always carries a reason. */
/** INTERRUPTED: stopped by the operator (Kernel ■), by the host (npm run session stopping Jupyter) or by another step starting; neither PASS nor FAIL. */
export type StepStatus = "PASS" | "FAIL" | "SKIPPED" | "INTERRUPTED";

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
  /** The step's id in the step table. */
  id: string;
  /** The seed's row label. */
  name: string;
  status: StepStatus;
  /** The facts the step recorded, typed as declared in the step table. Values are already redacted. */
  observed: Facts;
  /** Why it failed or was skipped; one line. */
  reason?: string;
  trace: TraceRange | null;
  startedAt: string; // UTC ISO-8601 with ms and Z
  endedAt: string;
  /** Monotonic duration of the step in milliseconds. */
  durationMs: number;
}

/** One poll attempt (the step table's poll steps). */
export interface PollSample {
  step: number;
  attempt: number;
  at: string; // UTC ISO time the request was sent
  /** Seconds since the poll window opened (monotonic). */
  t: number;
  latencyMs: number;
  httpStatus: number | null; // null = network error
  /** Order status seen, or null when the attempt failed. */
  orderStatus: string | null;
  error?: string;
  /** Why the attempt got no status: `schema` (the answer did not match the contract), else transport. */
  errorKind?: "schema";
  /** The pause the poller planned after this attempt (ms, jitter included) and when the next attempt is
   * due (UTC ISO); absent on an attempt that was planned to be the last (target, deadline, hopeless). */
  pauseMs?: number;
  nextAt?: string;
  /** Which run of the step took it (1, 2, … in trace order), set when the evidence is read back. */
  run?: number;
}

/** Something the operator and the auditor should know about, collected from the evidence. */
export interface Anomaly {
  at: string;
  step: number | null;
  kind:
    | "retry"
    | "http_5xx"
    | "slow_step"
    | "clock_skew"
    | "impossible_time"
    | "schema"
    | "network"
    | "warning"
    | "operator";
  message: string;
  traceLine?: number;
}
