/**
 * Amounts checked where money moves, and a `failed` read after a hold (issue 23 items 1 and 3).
 *
 * After payment the order's total (the marketplace), the orchestrator's `amount` and what it
 * captured (`amount_received`) must be one amount in one currency; `net_amount` (amount + the
 * orchestrator's surcharge, by Hyperswitch's reference) must be it too. Every disagreement is named
 * with both amounts and where each came from. Without the orchestrator's view the check is against
 * the marketplace only, and the facts say so: never a comparison that did not happen.
 *
 * Hyperswitch turns a failed void or capture into the payment status `failed`; after a hold that
 * does not mean "no money moved" (the authorisation may still hold the amount on the card).
 */
import type { HsPaymentT } from "../contract";
import { formatAmount, formatMoney, money, type Money } from "../money";
import type { Mode } from "../types";
import { paymentClass, type StatusClass } from "./hs-status";
import { liveConfirmPhrase } from "./guards";

const ORDER_SRC = "the marketplace order's total_cents";

/** What step 4 records about the amounts (facts of the pay step), and what it concluded. */
export interface AmountCheck {
  facts: {
    amount_check: string;
    charged?: Money;
    net_amount?: Money;
    surcharge?: Money;
    captured?: Money;
  };
  /** The money captured as far as known, with its source (the banner and the journal show it). */
  captured: Money;
  capturedSource: string;
  /** One line naming each disagreeing pair with its sources, or null when the amounts agree. */
  mismatch: string | null;
}

/**
 * Compare the order with the orchestrator's payment. `hs` null: no orchestrator view (no
 * HYPERSWITCH_URL, or it could not be read: `noView` says which), so only the marketplace's total is
 * known and the facts say so. `live`: the
 * live confirmation phrase must name the captured amount too (before paying it named the order's).
 */
export function checkAmounts(
  order: { totalMinor: number; currency: string },
  hs: HsPaymentT | null,
  opts: { live?: { mode: Mode; confirm: string }; noView?: string } = {},
): AmountCheck {
  const live = opts.live;
  const cur = order.currency.toUpperCase();
  const total = formatMoney(order.totalMinor, cur);
  if (!hs)
    return {
      facts: {
        amount_check: `against the marketplace only (order total ${total}): no orchestrator view (${opts.noView ?? "HYPERSWITCH_URL not set"}), so the amount charged and captured were not compared`,
      },
      captured: money(order.totalMinor, cur),
      capturedSource: "the order's total: no orchestrator view",
      mismatch: null,
    };
  const hsCur = hs.currency.toUpperCase();
  const m = (minor: number) => formatMoney(minor, hsCur);
  const net = hs.net_amount ?? hs.amount;
  const surcharge = net - hs.amount;
  const received = hs.amount_received ?? null;
  const moved = paymentClass(hs.status).class === "money_moved";
  const facts: AmountCheck["facts"] = { amount_check: "", charged: money(hs.amount, hsCur) };
  if (hs.net_amount !== undefined) facts.net_amount = money(net, hsCur);
  if (surcharge !== 0) facts.surcharge = money(surcharge, hsCur);
  if (received !== null) facts.captured = money(received, hsCur);

  const wrong: string[] = [];
  if (hsCur !== cur)
    wrong.push(
      `the orchestrator's currency is ${hsCur} (payment currency) but the order's is ${cur} (the marketplace order's currency)`,
    );
  else {
    if (hs.amount !== order.totalMinor)
      wrong.push(
        `the orchestrator's amount is ${m(hs.amount)} (payment amount) but the order's total is ${total} (${ORDER_SRC})`,
      );
    if (net !== order.totalMinor)
      wrong.push(
        `the orchestrator's net_amount is ${m(net)}${surcharge ? ` (amount ${m(hs.amount)} + surcharge ${m(surcharge)})` : ""} but the order's total is ${total} (${ORDER_SRC})`,
      );
    if (moved && received !== null && received !== order.totalMinor)
      wrong.push(
        received < order.totalMinor
          ? `the orchestrator captured only ${m(received)} of ${total} (payment amount_received, status ${hs.status}; ${ORDER_SRC} says ${total})`
          : `the orchestrator captured ${m(received)} (payment amount_received) but the order's total is ${total} (${ORDER_SRC})`,
      );
  }
  if (moved && received === null && hs.status !== "succeeded")
    wrong.push(
      `the orchestrator says ${hs.status} without saying how much it captured (amount_received null); the order's total is ${total} (${ORDER_SRC})`,
    );
  const captured = received !== null ? money(received, hsCur) : money(order.totalMinor, cur);
  const capturedSource =
    received !== null
      ? "the orchestrator's amount_received"
      : "the order's total: the orchestrator reported no captured amount yet";
  if (live?.mode === "live" && received !== null) {
    const want = liveConfirmPhrase(received, hsCur);
    if (live.confirm.trim().toLowerCase() !== want.toLowerCase())
      wrong.push(
        `LIVE_CONFIRM "${live.confirm}" does not name what was captured: ${m(received)} (payment amount_received)`,
      );
  }
  if (wrong.length) {
    facts.amount_check = `MISMATCH: ${wrong.join("; ")}`;
    return { facts, captured, capturedSource, mismatch: wrong.join("; ") };
  }
  facts.amount_check =
    received !== null
      ? `order total = orchestrator amount = net_amount = amount_received: ${total}`
      : moved
        ? `order total = orchestrator amount = net_amount: ${total}; the orchestrator did not report amount_received, so the captured amount was not compared`
        : `order total = orchestrator amount = net_amount: ${total}; nothing captured yet (${hs.status}), so amount_received is checked when it is`;
  return { facts, captured, capturedSource, mismatch: null };
}

/** AttemptStatus values that mean a void or capture of a hold failed. */
const HOLD_FAILURES = new Set(["void_failed", "capture_failed", "voided_post_charge"]);

/**
 * Why a `failed` payment may still hold money: it was held earlier in this session (`heldEarlier`,
 * from the journal), the orchestrator still reports an amount capturable or received, or an
 * attempt says a void or capture failed. Null when none of these holds (then `failed` is final
 * with no money moved). Only `failed` is read this way: `cancelled` is a void that succeeded.
 */
export function holdAfterFailure(hs: HsPaymentT, heldEarlier: string | null): string | null {
  if (hs.status !== "failed") return null;
  const cur = hs.currency.toUpperCase();
  const why: string[] = [];
  if (heldEarlier) why.push(heldEarlier);
  if ((hs.amount_capturable ?? 0) > 0) why.push(`amount_capturable ${formatMoney(hs.amount_capturable ?? 0, cur)}`);
  if ((hs.amount_received ?? 0) > 0) why.push(`amount_received ${formatMoney(hs.amount_received ?? 0, cur)}`);
  const attempts = (hs.attempts ?? []).filter((a) => HOLD_FAILURES.has(String(a.status)));
  for (const a of attempts) why.push(`attempt ${a.attempt_id ?? "?"} ${a.status}`);
  return why.length ? why.join(", ") : null;
}

/** The class of the orchestrator's payment, `failed` after a hold included (never `no_money` then). */
export function classifyPayment(hs: HsPaymentT, heldEarlier: string | null): StatusClass {
  const c = paymentClass(hs.status);
  const hold = c.class === "no_money" ? holdAfterFailure(hs, heldEarlier) : null;
  return hold ? { ...c, class: "needs_action", hold } : c;
}

/**
 * The pay (and completed) step's refusal when the amounts disagree: both amounts with their sources,
 * and what to do; `refundStep` names the refund step from the table ("step 8").
 */
export function amountMismatchMessage(a: AmountCheck, paymentId: string, refundStep: string): string {
  return `the amounts disagree: ${a.mismatch} — money moved (${formatAmount(a.captured)}, per ${a.capturedSource}): do not go on with this session; refund what was captured (${refundStep} stays available; if the order never completes, refund payment ${paymentId} at the orchestrator, Hyperswitch dashboard) and escalate to the marketplace squad with payment ${paymentId}`;
}
