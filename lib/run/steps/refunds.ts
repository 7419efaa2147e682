/**
 * What the refund steps read and journal for the ledger: the orchestrator's word on a refund (its
 * status journaled when it changed), the amounts each source reported (`money_seen`, once per
 * change). The money rules themselves are ../ledger.ts and ../ledger-checks.ts.
 */
import { HsRefund, paths, type HsRefundT } from "../../contract";
import { InterruptedError, oneLine } from "../../errors";
import type { Journal } from "../../evidence/journal";
import type { RefundAttempt } from "../ledger";
import { paymentSeen, type MoneySeenData } from "../ledger-checks";
import type { Services } from "../step-context";
import { orchestratorPayment } from "./payment";

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

/** The orchestrator's word on a refund (force_sync), journaled when it changed; null without it. */
export async function orchestratorRefund(s: Services, a: RefundAttempt): Promise<HsRefundT | null> {
  if (!s.hs || !s.cfg.hyperswitchApiKey || !a.refundId) return null;
  try {
    const r = (
      await s.hs.call({
        method: "GET",
        path: paths.hsRefundSynced(a.refundId),
        endpoint: "GET /refunds/:id",
        schema: HsRefund,
        enveloped: false,
        headers: { "api-key": s.cfg.hyperswitchApiKey },
      })
    ).data;
    noteRefundStatus(s.journal, a, r.status, "orchestrator", r.amount);
    return r;
  } catch (err) {
    if (err instanceof InterruptedError) throw err;
    s.anomaly({
      step: s.currentStep,
      kind: "warning",
      message: `orchestrator refund cross-check failed: ${oneLine(err)}`,
    });
    return null;
  }
}

/** The orchestrator's charged and captured amounts, journaled for the ledger (nothing without it). */
export async function seePayment(s: Services): Promise<void> {
  const p = await orchestratorPayment(s);
  if (p) for (const d of paymentSeen(p)) seeMoney(s.journal, d);
}
