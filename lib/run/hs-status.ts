/**
 * What Hyperswitch's status values mean for the operator's money (issue 12 §1). Every value of the
 * payment (intent) status and of the refund status in Hyperswitch's v1 API reference maps to one
 * class; a value this table does not know is "needs operator action", never "fine". Steps 4, 5, 8
 * and 9 act on the class, and the advice they print names the payment or refund reference.
 */

// Hyperswitch's IntentStatus and RefundStatus come from the one generated module of the reference's
// lists (lib/hs-reference.ts): a status the reference gains and this table lacks fails the typecheck
// (the tables below are Records over them) and test/run/hs-status.test.ts.
import { INTENT_STATUSES, type IntentStatus, REFUND_STATUSES, type RefundStatus } from "../hs-reference";

export { INTENT_STATUSES, REFUND_STATUSES, type IntentStatus, type RefundStatus };

/**
 * money_moved     the card was charged (or the refund paid out);
 * funds_held      authorised, not captured: the amount is held on the card;
 * no_money        final, and nothing moved (failed, cancelled, expired);
 * needs_action    the orchestrator cannot settle it alone, or the value is unknown: an operator acts;
 * in_flight       not final yet.
 */
export type MoneyClass = "money_moved" | "funds_held" | "no_money" | "needs_action" | "in_flight";

export interface StatusClass {
  status: string;
  class: MoneyClass;
  /** in_flight only: the customer has not paid yet (pay link still good), vs. money on its way. */
  awaitingCustomer: boolean;
  /** The value is one the spec lists. */
  known: boolean;
  /**
   * `failed` after a hold (issue 23): why the amount may still be held on the card (the session saw
   * the hold, an amount is still capturable or received, an attempt's void or capture failed).
   * Such a payment is `needs_action`, never `no_money`.
   */
  hold?: string;
}

const PAYMENT: Record<IntentStatus, [MoneyClass, boolean]> = {
  succeeded: ["money_moved", false],
  partially_captured: ["money_moved", false],
  partially_captured_and_capturable: ["money_moved", false],
  requires_capture: ["funds_held", false],
  partially_authorized_and_requires_capture: ["funds_held", false],
  failed: ["no_money", false],
  cancelled: ["no_money", false],
  expired: ["no_money", false],
  processing: ["in_flight", false],
  partially_captured_and_processing: ["in_flight", false],
  requires_customer_action: ["in_flight", true],
  requires_payment_method: ["in_flight", true],
  requires_confirmation: ["in_flight", true],
  requires_merchant_action: ["needs_action", false],
  conflicted: ["needs_action", false],
  cancelled_post_capture: ["needs_action", false],
};

const REFUND: Record<RefundStatus, MoneyClass> = {
  succeeded: "money_moved",
  failed: "no_money",
  pending: "in_flight",
  review: "needs_action",
};

const own = (o: object, k: string) => Object.hasOwn(o, k);

/** The class of a payment (intent) status; unknown values need an operator. */
export function paymentClass(status: string): StatusClass {
  if (!own(PAYMENT, status)) return { status, class: "needs_action", awaitingCustomer: false, known: false };
  const [cls, awaitingCustomer] = PAYMENT[status as IntentStatus];
  return { status, class: cls, awaitingCustomer, known: true };
}

/** The class of a refund status; unknown values need an operator. */
export function refundClass(status: string): StatusClass {
  if (!own(REFUND, status)) return { status, class: "needs_action", awaitingCustomer: false, known: false };
  return { status, class: REFUND[status as RefundStatus], awaitingCustomer: false, known: true };
}

/** The value as shown in a reason: unknown ones say so. */
const shown = (c: StatusClass) =>
  c.known ? c.status : `${JSON.stringify(c.status)} (a status the runbook does not know)`;

/**
 * What the operator does about a payment whose order did not complete (step 5), or that step 4
 * cannot accept, by the orchestrator's class. `ref` is the Hyperswitch payment id.
 */
export function paymentAdvice(c: StatusClass, ref: string): string {
  if (c.hold)
    return `the orchestrator says the payment ${ref} is ${c.status} after a hold (${c.hold}): Hyperswitch records a failed void or capture as failed, so the hold may still be on the card — do not pay again yet; check payment ${ref} in the Hyperswitch dashboard and void the hold again (cancel the payment), or confirm with the card's bank that the hold was released; record it in OPERATOR_NOTES and escalate to the marketplace squad with payment ${ref}`;
  switch (c.class) {
    case "money_moved":
      return `the orchestrator says the payment ${ref} is ${c.status}: money moved — refund it at the orchestrator (Hyperswitch dashboard), record it in OPERATOR_NOTES, and escalate to the marketplace squad`;
    case "funds_held":
      return `the orchestrator says the payment ${ref} is ${c.status}: the amount is held on the card — void the hold at the orchestrator (Hyperswitch dashboard: cancel the payment), record it in OPERATOR_NOTES`;
    case "no_money":
      return `the orchestrator says the payment ${ref} is ${c.status}: no money moved — pay again in a fresh session`;
    case "in_flight":
      return c.awaitingCustomer
        ? `the orchestrator says the payment ${ref} is ${c.status}: not paid yet`
        : `the orchestrator still says the payment ${ref} is ${c.status}: money may have moved — escalate to the marketplace squad with payment ${ref}, and check it in the Hyperswitch dashboard before refunding or voiding`;
    case "needs_action":
      return `the orchestrator says the payment ${ref} is ${shown(c)}: it needs an operator — escalate to the marketplace squad with payment ${ref} and settle it in the Hyperswitch dashboard (money may have moved)`;
  }
}

/**
 * What the operator does about a refund the orchestrator (or the marketplace) reports; `refundStep`
 * names the refund step ("step 8"), its number from the step table.
 */
export function refundAdvice(c: StatusClass, ref: string, nextAttempt: number, refundStep: string): string {
  switch (c.class) {
    case "money_moved":
      return `refund ${ref} succeeded`;
    case "no_money":
      return `refund ${ref} failed: no money was returned — run ${refundStep} again to create a new refund (attempt ${nextAttempt}), or refund at the orchestrator (Hyperswitch dashboard)`;
    case "in_flight":
      return `refund ${ref} is still ${c.status}`;
    case "funds_held":
    case "needs_action":
      return `refund ${ref} is ${shown(c)}: escalate to the marketplace squad with refund ${ref} — the orchestrator holds it for review; do not create a second refund`;
  }
}
