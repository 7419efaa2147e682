/**
 * The step table: one source of truth for step numbers, the seed's names and "Observed" columns,
 * and which steps each one needs. Used by the notebook, the report and the CLI.
 */
import type { StepResult } from "../types";

export interface StepDef {
  n: number;
  /** The seed's row label. */
  name: string;
  /** The seed's "Observed" column, as a hint of what the row records. */
  observed: string;
  /** Steps that must have PASSed before this one may act. */
  requires: number[];
  /**
   * A PASS is final: re-running the cell keeps the recorded result instead of measuring again,
   * because the world has moved on (after the refund the licence is gone by design, and a second
   * poll would report a meaningless seconds-to-completed).
   */
  finalOnPass?: boolean;
}

export const STEPS: readonly StepDef[] = [
  { n: 0, name: "Pre-flight", observed: "health, environment, hyperswitch, products, amount", requires: [] },
  { n: 1, name: "Login as buyer", observed: "access_token captured ✓ / 401 / other", requires: [0] },
  { n: 2, name: "List marketplace products", observed: "product_id, price", requires: [1] },
  {
    n: 3,
    name: "POST /orders (create)",
    observed: "order_id, hyperswitch_payment_id, payment_url received",
    requires: [2],
  },
  {
    n: 4,
    name: "Pay via Hyperswitch checkout",
    observed: "card last 4, transaction time, processor used",
    requires: [3],
  },
  {
    n: 5,
    finalOnPass: true,
    name: "Poll /orders/:id until completed",
    observed: "seconds-to-completed, max 5xx during the window",
    requires: [4],
  },
  {
    n: 6,
    finalOnPass: true,
    name: "License attribution (GET /licenses/mine)",
    observed: "license_id, type, rights JSON",
    requires: [5],
  },
  {
    n: 7,
    finalOnPass: true,
    name: "seller_transfers row (DB)",
    observed: "amount, stripe_transfer_id, status",
    requires: [5],
  },
  // Money moved at step 4: the refund stays available even when verification failed (issue 4).
  { n: 8, name: "Refund (POST /orders/:id/refund)", observed: "refund_id, status", requires: [4] },
  {
    n: 9,
    finalOnPass: true,
    name: "License revoked + funds returned",
    observed: "seconds-to-refunded, license disappeared from /mine",
    requires: [8],
  },
];

export function stepDef(n: number): StepDef {
  const d = STEPS[n];
  if (!d || d.n !== n) throw new RangeError(`unknown step ${n}; steps are 0 (pre-flight) to 9`);
  return d;
}

/** `14:02:11Z` from an ISO time, for one-line reasons. */
export function clock(iso: string): string {
  return `${iso.slice(11, 19)}Z`;
}

/**
 * Why step `n` may not act yet, or null when every prerequisite passed.
 * @example blockedBy(6, results) // "step 5 failed at 14:02:11Z"
 */
export function blockedBy(n: number, results: ReadonlyMap<number, StepResult>): string | null {
  for (const req of stepDef(n).requires) {
    const r = results.get(req);
    if (!r) return `step ${req} (${stepDef(req).name}) has not run yet`;
    if (r.status === "FAIL") return `step ${req} failed at ${clock(r.endedAt)}`;
    if (r.status === "SKIPPED") return `step ${req} was skipped (${r.reason ?? "no reason"})`;
  }
  return null;
}
