/**
 * The payment's evidence, shared by the pay step, the completed step, the refund steps and the
 * report's last look: what the orchestrator says (with a hold journaled once), whether and when
 * the payment happened, and the records of a confirmation refused after the money moved.
 * Over 300 lines: what each source says about the payment, and when they disagree, is one reading
 * that the pay step, the completed step and the report's last look share; apart they could drift.
 */
import { HsPayment, hsCardLast4, hsMethodKind, paths, type HsPaymentT } from "../../contract";
import type { z } from "zod";
import { InterruptedError, oneLine, SchemaError } from "../../errors";
import { sleep } from "../../clients/policy";
import type { Money } from "../../money";
import { classifyPayment, type AmountCheck } from "../amounts";
import { answerTime, type BackendTime, noPaidTime, paidTime, paidTimeProblem } from "../backend-time";
import { paymentAdvice, paymentClass } from "../hs-status";
import { capturedFromJournal, ledgerOf } from "../ledger";
import type { Journal } from "../../evidence/journal";
import type { JournalOrder, Observed, Services } from "../step-context";
import { getOrder, journalOrder, requireOrder } from "./orders";

/** How long the paid cell keeps asking while a payment is under way. */
const PAID_WAIT_MS = 20 * 1000; // 20 s
const PAID_POLL_MS = 500;
/** Order statuses the marketplace reaches only once it was paid. */
const PAID_ORDER: ReadonlySet<string> = new Set(["completed", "refund_pending", "refunded"]);

/** "succeeded •••• 4242 via stripe", "succeeded (wallet) via adyen" */
export function describeHsPayment(p: HsPaymentT): string {
  const last4 = hsCardLast4(p);
  const kind = hsMethodKind(p);
  const method = last4 ? ` •••• ${last4}` : kind && kind !== "card" ? ` (${kind})` : "";
  return `${p.status}${method}${p.connector ? ` via ${p.connector}` : ""}`;
}

/**
 * One read of the orchestrator (HYPERSWITCH_URL + HYPERSWITCH_API_KEY), a cross-check: null without it,
 * and null with a warning anomaly (`what` cross-check failed) when it cannot be read; Kernel ■ still stops it.
 */
export async function orchestratorGet<T>(
  s: Services,
  what: string,
  read: { path: string; endpoint: string; schema: z.ZodType<T> },
): Promise<T | null> {
  return (await orchestratorAnswer(s, what, read))?.data ?? null;
}

/** The same read, with when it was answered (its Date header): the bound for the times it carries. */
export async function orchestratorAnswer<T>(
  s: Services,
  what: string,
  read: { path: string; endpoint: string; schema: z.ZodType<T> },
): Promise<{ data: T; answered: BackendTime | null } | null> {
  if (!s.hs || !s.cfg.hyperswitchApiKey) return null;
  try {
    const res = await s.hs.call({
      method: "GET",
      ...read,
      enveloped: false,
      headers: { "api-key": s.cfg.hyperswitchApiKey },
    });
    return { data: res.data, answered: answerTime(res) };
  } catch (err) {
    if (err instanceof InterruptedError) throw err;
    s.anomaly({ step: s.currentStep, kind: "warning", message: `${what} cross-check failed: ${oneLine(err)}` });
    return null;
  }
}

/** The orchestrator's endpoints as the trace names them (the report reads what they answered). */
export const ORCHESTRATOR_ENDPOINTS: readonly string[] = ["GET /payments/:id", "GET /refunds/:id"];

/** The orchestrator's view of the payment, or null without HYPERSWITCH_URL (or when it cannot be read). */
export async function orchestratorPayment(s: Services): Promise<HsPaymentT | null> {
  const o = journalOrder(s.journal);
  if (!o) return null;
  const p = await orchestratorGet(s, "orchestrator", {
    path: paths.hsPaymentSynced(o.paymentId),
    endpoint: ORCHESTRATOR_ENDPOINTS[0],
    schema: HsPayment,
  });
  // An answer about another payment says nothing about this one (its `failed` is not ours).
  if (p && p.payment_id !== o.paymentId) {
    s.anomaly({
      step: s.currentStep,
      kind: "warning",
      message: `orchestrator cross-check failed: asked for payment ${o.paymentId}, it answered about payment ${p.payment_id}; not read as this order's payment`,
    });
    return null;
  }
  // A hold seen is journaled once: a later `failed` (a failed void or capture) is then never
  // read as "no money moved" (issue 23).
  if (p && paymentClass(p.status).class === "funds_held" && !s.journal.last("payment_held"))
    s.journal.append("payment_held", {
      at: new Date().toISOString(),
      payment_id: p.payment_id,
      status: p.status,
      amount_capturable: p.amount_capturable ?? null,
      currency: p.currency,
    });
  return p;
}

/** Optional: the orchestrator's own view of the payment (HYPERSWITCH_URL + HYPERSWITCH_API_KEY). */
export async function crossCheckPayment(s: Services, obs: Observed): Promise<HsPaymentT | null> {
  const p = await orchestratorPayment(s);
  if (!p) return null;
  obs.orchestrator = describeHsPayment(p);
  return p;
}

/** Why the amount check has no orchestrator view (its fact names it). */
export function noOrchestratorView(s: Services): string {
  if (!s.hs) return "HYPERSWITCH_URL not set";
  if (!s.cfg.hyperswitchApiKey) return "HYPERSWITCH_API_KEY not set";
  return "the orchestrator could not be read: see the warning";
}

/**
 * "requires_capture seen at 14:02:11Z in this session" when the journal recorded a hold
 * (`payment_held`), else null: a later `failed` is then read as a failed void or capture.
 */
export function heldEarlier(journal: Journal): string | null {
  const h = journal.last("payment_held");
  return h ? `${h.data.status} seen at ${h.at} in this session` : null;
}

/** What moved and its source: the ledger's captured amount (one reading of the money, review 2). */
export function capturedAmount(journal: Journal): { money: Money; source: string } | null {
  const l = ledgerOf(journal.all());
  return l.captured === null || !l.currency
    ? null
    : { money: { minor: l.captured, currency: l.currency }, source: l.capturedSource ?? "order total" };
}

/**
 * The operator's confirmation was refused, but the payment went through: journaled as
 * `payment_uncertain` (not a confirmation, so a re-run does not resume it as PASS), which the
 * money-moved banner, the refund step and the report all follow (issue 14 §8).
 */
export function refusedAfterPaying(
  journal: Journal,
  evidence: { paid: boolean; seen: string } | null,
  why: string,
  amounts?: AmountCheck,
): void {
  if (!evidence?.paid || journal.last("payment_uncertain")) return;
  journal.append("payment_uncertain", {
    at: new Date().toISOString(),
    payment_id: journalOrder(journal)?.paymentId ?? null,
    seen: evidence.seen,
    why: `paid, but the confirmation was refused: ${why}`,
    ...(amounts ? { captured: amounts.captured, captured_source: amounts.capturedSource } : {}),
  });
}

/**
 * The completed step learned what was captured and it is not the order's total: journaled as money
 * that moved with that amount (`payment_uncertain`, again whenever the amount changes), so the 💶
 * banner shows what the orchestrator took, not the total the pay step recorded before anything was captured.
 */
export function recordCaptured(journal: Journal, a: AmountCheck, status: string): void {
  const was = capturedFromJournal(journal.all())?.money;
  if (was && a.captured && was.minor === a.captured.minor && was.currency === a.captured.currency) return;
  journal.append("payment_uncertain", {
    at: new Date().toISOString(),
    payment_id: journalOrder(journal)?.paymentId ?? null,
    seen: `orchestrator: ${status}`,
    why: `the amounts disagree: ${a.mismatch}`,
    captured: a.captured,
    captured_source: a.capturedSource,
  });
}

/** Said after a refused confirmation when the payment itself went through. */
export function moneyMovedNote(seen: string): string {
  return ` — the payment itself went through (${seen}): money moved; run this cell again with the last 4 digits, and the refund step stays available`;
}

/**
 * What the marketplace says that contradicts an orchestrator calling the payment unpaid or failed: its
 * order completed (or refunded since), or its payment changed since the order was created (SchemaError:
 * it may have been paid on the new one); null when it does not contradict it, or could not be read.
 */
async function marketplaceSaysPaid(s: Services, o: JournalOrder): Promise<string | null> {
  try {
    const order = await getOrder(s.api, o);
    return PAID_ORDER.has(order.status) ? `the marketplace order ${o.id} is ${order.status}` : null;
  } catch (err) {
    if (err instanceof InterruptedError) throw err;
    return err instanceof SchemaError ? `the marketplace order does not match: ${oneLine(err)}` : null;
  }
}

export interface PaymentEvidence {
  /** Money moved, or is on its way (the payment went through). */
  paid: boolean;
  /** The payment's own time from the backend (ISO), or null when no backend time exists. */
  paidAt: string | null;
  source: string;
  /** A field the payment's time would be read from holds something that is not a time (then `paidAt` is null). */
  timeProblem?: string | null;
  seen: string;
  orchestrator?: string;
  /** The last 4 digits of the card the orchestrator says paid, when it says. */
  cardLast4?: string | null;
  failed?: string;
  /** The failure leaves money possibly moved (needs an operator): recorded as such. */
  uncertain?: boolean;
  /** Passed, but the operator must know this (funds held). */
  note?: string;
  /** The orchestrator's payment as read, for the amount check (absent without HYPERSWITCH_URL). */
  hs?: HsPaymentT;
}

/**
 * Did the payment happen, and when? The orchestrator's word when HYPERSWITCH_URL is set, else the
 * marketplace order having left `pending`. The time is always the backend's own (`paidTime`):
 * never when this check ran, so a paid cell run late cannot shorten the completed step's interval. Without a
 * backend time the payment still counts as paid, with `paidAt` null and the source saying why.
 * When a headless payer just paid it asks again for a few seconds (the orchestrator or the
 * webhook may lag); a payment nobody attempted is answered at once.
 */
export async function paymentEvidence(s: Services, justPaid: boolean): Promise<PaymentEvidence> {
  const o = requireOrder(s.journal, s.table);
  const deadline = performance.now() + PAID_WAIT_MS;
  const unpaid = (seen: string, more: { orchestrator?: string; failed?: string; uncertain?: boolean } = {}) => ({
    paid: false,
    paidAt: null,
    source: "",
    seen,
    ...more,
  });
  for (;;) {
    const hs = await orchestratorPayment(s);
    if (hs) {
      const orchestrator = describeHsPayment(hs);
      // A `failed` after a hold is not "no money moved" (issue 23): classifyPayment reads the hold.
      const c = classifyPayment(hs, heldEarlier(s.journal));
      const seen = `orchestrator: ${hs.status}`;
      const paid = async () => {
        // The order's own paid_at too: once the payment settled, the orchestrator's `updated` is
        // the settling time, later than the payment itself.
        const order = await getOrder(s.api, o).catch((err) => {
          if (err instanceof InterruptedError) throw err;
          return null;
        });
        const t = paidTime(hs, order);
        const timeProblem = paidTimeProblem(hs, order);
        return {
          paid: true,
          paidAt: t?.at ?? null,
          source: t?.source ?? timeProblem ?? noPaidTime(order),
          timeProblem,
          seen,
          orchestrator,
          cardLast4: hsCardLast4(hs) ?? null,
          hs,
        };
      };
      // Money moved, or is on its way (`processing`): paid, and the refund stays in sight.
      if (c.class === "money_moved" || (c.class === "in_flight" && !c.awaitingCustomer)) return paid();
      if (c.class === "funds_held")
        return {
          ...(await paid()),
          note: `funds held (${hs.status}): void the hold at the orchestrator (payment ${o.paymentId}) if the order does not complete`,
        };
      // The marketplace's word too: an order completed (or refunded since) says it was paid, and
      // two sources disagreeing is never "no money moved", nor "not paid yet" (an orchestrator still
      // awaiting the customer). (`processing` is the marketplace not having heard of the failure yet:
      // a declined card looks so for a moment.)
      const disagree = async () => {
        const differs = await marketplaceSaysPaid(s, o);
        return differs
          ? unpaid(seen, {
              orchestrator,
              uncertain: true,
              failed: `the orchestrator says the payment ${o.paymentId} is ${hs.status} but ${differs}: the two disagree, so money may have moved — do not pay again; check payment ${o.paymentId} at the orchestrator (Hyperswitch dashboard) and escalate to the marketplace squad with order ${o.id} and payment ${o.paymentId}`,
            })
          : null;
      };
      if (c.class === "no_money") {
        const differs = await disagree();
        if (differs) return differs;
        return unpaid(seen, {
          orchestrator,
          failed: `the orchestrator says the payment ${o.paymentId} is ${hs.status}: no money moved; pay again in a fresh session`,
        });
      }
      if (c.class === "needs_action")
        return unpaid(seen, { orchestrator, failed: paymentAdvice(c, o.paymentId), uncertain: true });
      if (!justPaid || performance.now() > deadline) return (await disagree()) ?? unpaid(seen, { orchestrator });
    } else {
      const order = await getOrder(s.api, o);
      if (order.status === "failed")
        return unpaid("order failed", {
          failed: `the order failed${order.failure_reason ? ` (${order.failure_reason})` : ""}: no money moved; pay again in a fresh session`,
        });
      if (order.status !== "pending") {
        const t = paidTime(null, order);
        const timeProblem = paidTimeProblem(null, order);
        return {
          paid: true,
          paidAt: t?.at ?? null,
          source: t?.source ?? timeProblem ?? noPaidTime(order),
          timeProblem,
          seen: `order ${order.status}`,
        };
      }
      if (!justPaid || performance.now() > deadline) return unpaid("order pending");
    }
    await sleep(PAID_POLL_MS, s.signal);
  }
}
