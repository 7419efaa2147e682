/**
 * An amount is checked against the orchestrator, never assumed: a staging or live session whose money
 * moved but whose captured amount (the payment's `amount_received`), or, once a refund was created,
 * whose refunded amount the orchestrator never reported (journal `money_seen` from the orchestrator)
 * balanced its money on the marketplace's word alone. The verdict is then never PASS (PARTIAL, this
 * reason); the Python verifier bounds the stated outcome by the same journal entries.
 * Sandbox runs may go without the orchestrator (its double is not the thing proved).
 */
import type { Evidence } from "./evidence";

/** Why the orchestrator did not compare the amounts (the parameters pre-flight pinned say which). */
function why(ev: Evidence): string {
  const url = ev.parameters?.params.HYPERSWITCH_URL;
  return !url || url === "(none)"
    ? "HYPERSWITCH_URL was not set"
    : `the orchestrator (${url}) could not be read when the steps looked`;
}

/** What was not compared at the orchestrator, as one line naming how to check it, or null when all was. */
export function notComparedAtOrchestrator(ev: Evidence): string | null {
  if (ev.mode === "sandbox" || !ev.moneyMoved) return null;
  const row = (what: string) => ev.reconciliation.rows.find((r) => r.what === what)?.values.orchestrator ?? null;
  const missing: string[] = [];
  if (!row("captured")) missing.push("the captured amount (payment amount_received)");
  if (ev.refund && !row("refunded")) missing.push("the refunded amount (the refunds' amounts)");
  if (!missing.length) return null;
  const payment = ev.trail.find((t) => t.link === "payment")?.id ?? null;
  const refund = ev.refund?.refundId ?? null;
  const refs = [payment ? `payment ${payment}` : null, refund && ev.refund ? `refund ${refund}` : null]
    .filter(Boolean)
    .join(" and ");
  return `${missing.join(" and ")} not compared at the orchestrator (${why(ev)}), only the marketplace's word — check ${refs || "the order's payment"} in the Hyperswitch dashboard, and run with HYPERSWITCH_URL and HYPERSWITCH_API_KEY`;
}
