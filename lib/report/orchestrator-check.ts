/**
 * An amount is checked against the orchestrator, never assumed: a staging or live session whose money
 * moved but whose captured amount (the payment's `amount_received`), or, once a refund was created,
 * whose refunded amount the orchestrator never reported (journal `money_seen` from the orchestrator)
 * balanced its money on the marketplace's word alone. The verdict is then never PASS (PARTIAL, this
 * reason); the Python verifier bounds the stated outcome by the same journal entries.
 * Sandbox runs may go without the orchestrator (its double is not the thing proved).
 */
import type { TraceEvent } from "../evidence/chain";
import type { Evidence } from "./evidence";

/**
 * Why the orchestrator did not compare the amounts, and the fix, from what happened: HYPERSWITCH_URL
 * not set (the parameters pre-flight pinned); set, but no request reached it (no key: the steps send
 * none without HYPERSWITCH_API_KEY); or set and read, and what it answered (401/403: the key; 404:
 * the origin; another status; no connection), with the first failed read's trace line.
 */
export function orchestratorWhy(ev: Evidence): { why: string; fix: string } {
  const url = ev.parameters?.params.HYPERSWITCH_URL;
  if (!url || url === "(none)")
    return {
      why: "HYPERSWITCH_URL was not set",
      fix: "run with HYPERSWITCH_URL (the orchestrator's API origin) and HYPERSWITCH_API_KEY set",
    };
  const reads = ev.orchestratorReads;
  const at = `the orchestrator (${url})`;
  if (reads && reads.requests === 0)
    return {
      why: `${at} was never asked: no step sent it a request (HYPERSWITCH_API_KEY not set?)`,
      fix: "export HYPERSWITCH_API_KEY (snd_… staging, prd_… live) beside HYPERSWITCH_URL",
    };
  const first = reads?.failures[0];
  if (!first)
    return {
      why: `${at} answered, but not with an answer the steps could read (see the warnings)`,
      fix: "check the warnings' cross-check failures against the orchestrator's API version",
    };
  const more = reads.failures.length > 1 ? `; ${reads.failures.length} reads failed` : "";
  const where = `${first.endpoint}, trace L${first.traceLine}${more}`;
  if (first.status === null)
    return {
      why: `${at} could not be reached (${where}: ${first.error ?? "no answer"})`,
      fix: "check that HYPERSWITCH_URL is reachable from the machine the kernel runs on",
    };
  if (first.status === 401 || first.status === 403)
    return {
      why: `${at} refused the key: ${first.status} (${where})`,
      fix: "export the orchestrator's HYPERSWITCH_API_KEY for this mode (snd_… staging, prd_… live)",
    };
  if (first.status === 404)
    return {
      why: `${at} answered 404 (${where})`,
      fix: "check that HYPERSWITCH_URL is the API origin of the orchestrator that took this payment",
    };
  return {
    why: `${at} answered ${first.status} (${where})`,
    fix: "check the orchestrator's status page, then its answers in the trace",
  };
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
  const { why, fix } = orchestratorWhy(ev);
  return `${missing.join(" and ")} not compared at the orchestrator (${why}), only the marketplace's word — check ${refs || "the order's payment"} in the Hyperswitch dashboard; next run: ${fix}`;
}

/** What the orchestrator's endpoints answered in the trace: how many requests, and each failed answer. */
export interface OrchestratorReads {
  requests: number;
  failures: Array<{ endpoint: string; status: number | null; error: string | null; traceLine: number }>;
}

/** The orchestrator's reads (`endpoints`: how the trace names them), from the trace's request and response lines. */
export function orchestratorReads(events: readonly TraceEvent[], endpoints: readonly string[]): OrchestratorReads {
  const out: OrchestratorReads = { requests: 0, failures: [] };
  for (const e of events) {
    const p = (e.payload ?? {}) as Record<string, unknown>;
    if (typeof p.endpoint !== "string" || !endpoints.includes(p.endpoint)) continue;
    if (e.type === "request") out.requests++;
    else if (e.type === "response" && (typeof p.error === "string" || Number(p.status) >= 400))
      out.failures.push({
        endpoint: p.endpoint,
        status: typeof p.status === "number" ? p.status : null,
        error: typeof p.error === "string" ? p.error : null,
        traceLine: e.seq,
      });
  }
  return out;
}
