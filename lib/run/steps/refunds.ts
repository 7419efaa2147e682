/**
 * What the refund steps read and journal for the ledger: the orchestrator's word on a refund (its
 * status journaled when it changed), the amounts each source reported (`money_seen`, once per
 * change). The money rules themselves are ../ledger.ts and ../ledger-checks.ts.
 */
import { HsRefund, paths, type HsPaymentT, type HsRefundT } from "../../contract";
import type { Journal } from "../../evidence/journal";
import type { RefundAttempt } from "../ledger";
import { paymentSeen, type MoneySeenData } from "../ledger-checks";
import type { Services } from "../step-context";
import { journalOrder } from "./orders";
import { ORCHESTRATOR_ENDPOINTS, orchestratorAnswer, orchestratorPayment } from "./payment";
import type { BackendTime } from "../backend-time";

/** Journals an amount a source reported, for the ledger (once per change). */
export function seeMoney(journal: Journal, d: MoneySeenData): void {
  const prev = journal.last("money_seen", (e) => e.data.what === d.what && e.data.source === d.source);
  if (prev && prev.data.amount === d.amount && prev.data.currency === d.currency) return;
  journal.append("money_seen", d);
}

/** Journals a refund's new status (the evidence `moneyOutstanding` and the refund step's next attempt read). */
export function noteRefundStatus(
  journal: Journal,
  a: RefundAttempt,
  status: string,
  source: string,
  amount?: number,
): void {
  // (Only an attempt whose POST answered has an id to report a status for.)
  if (a.refundId === null || (a.status === status && (amount === undefined || amount === a.amount))) return;
  const more = amount === undefined ? {} : { amount };
  journal.append("refund_status", { refund_id: a.refundId, attempt: a.attempt, status, source, ...more });
  a.status = status;
  a.source = source;
  if (amount !== undefined) a.amount = amount;
}

/**
 * The orchestrator's word on a refund (force_sync), journaled when it changed; null without it.
 * An answer about another refund, another payment or in another currency is not this order's
 * refund: it is journaled as such (`refund_foreign`, never counted as returned) and null is returned.
 * `onAnswered` learns when the answer was given (its Date header), the bound of its `created_at`.
 */
export async function orchestratorRefund(
  s: Services,
  a: RefundAttempt,
  onAnswered?: (answered: BackendTime | null) => void,
): Promise<HsRefundT | null> {
  if (!a.refundId) return null;
  const got = await orchestratorAnswer(s, "orchestrator refund", {
    path: paths.hsRefundSynced(a.refundId),
    endpoint: ORCHESTRATOR_ENDPOINTS[1],
    schema: HsRefund,
  });
  if (got) onAnswered?.(got.answered);
  const r = got?.data ?? null;
  const o = journalOrder(s.journal);
  const why = r && o ? foreignRefund(r, a.refundId, o) : null;
  if (why) {
    disownRefund(s, a, why);
    return null;
  }
  if (r) noteRefundStatus(s.journal, a, r.status, "orchestrator", r.amount);
  return r;
}

/** Why the orchestrator's refund is not the one asked about for this order, or null when it is. */
export function foreignRefund(
  r: Pick<HsRefundT, "refund_id" | "payment_id" | "currency">,
  refundId: string,
  o: { paymentId: string; currency: string },
): string | null {
  const why: string[] = [];
  if (r.refund_id !== refundId) why.push(`it answered about refund ${r.refund_id}`);
  if (r.payment_id !== o.paymentId) why.push(`it refunds payment ${r.payment_id}, not ${o.paymentId}`);
  if (r.currency && r.currency.toUpperCase() !== o.currency.toUpperCase())
    why.push(`it is in ${r.currency}, not the order's ${o.currency}`);
  return why.length ? `the orchestrator says refund ${refundId} is not this order's refund: ${why.join("; ")}` : null;
}

/**
 * Records that a source says this refund is not this order's (`refund_foreign`, once per refund, with
 * a warning anomaly): the ledger then never counts it as returned.
 */
export function disownRefund(s: Services, a: RefundAttempt, why: string): void {
  a.foreign = a.foreign ?? why;
  if (!a.refundId || s.journal.last("refund_foreign", (e) => e.data.refund_id === a.refundId)) return;
  s.journal.append("refund_foreign", { refund_id: a.refundId, attempt: a.attempt, why });
  s.anomaly({ step: s.currentStep, kind: "warning", message: why });
}

/** What steps 8 and 9 say about a refund that is not this order's: nothing is counted, nothing retried. */
export function foreignAdvice(a: RefundAttempt, paymentId: string): string {
  return `${a.foreign} — nothing is counted as refunded: do not create another refund; check at the orchestrator (Hyperswitch dashboard) whether payment ${paymentId} was refunded, and escalate to the marketplace squad with refund ${a.refundId ?? "?"} and payment ${paymentId}`;
}

/**
 * The orchestrator's charged and captured amounts as a step compared them (steps 4 and 5, and 8 and 9
 * reading again), journaled for the ledger: the money table shows what was compared, whichever step did.
 */
export function notePaymentSeen(journal: Journal, p: HsPaymentT): void {
  for (const d of paymentSeen(p)) seeMoney(journal, d);
}

/** The orchestrator's charged and captured amounts, read now and journaled for the ledger (nothing without it). */
export async function seePayment(s: Services): Promise<void> {
  const p = await orchestratorPayment(s);
  if (p) notePaymentSeen(s.journal, p);
}
