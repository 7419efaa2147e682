/**
 * Issue 23 items 1 and 3, the pure part: the amount check names both amounts and their sources,
 * says when there was nothing to compare with, checks LIVE_CONFIRM against the captured amount; and
 * a `failed` payment after a hold is never "no money moved". (The same against the sandbox double:
 * fault scenarios 23s, 23p, 23v.)
 */
import { strict as assert } from "node:assert";
import { test } from "node:test";
import type { HsPaymentT } from "../../lib/contract";
import { checkAmounts, classifyPayment, holdAfterFailure } from "../../lib/run/amounts";
import { paymentAdvice } from "../../lib/run/hs-status";

const ORDER = { totalMinor: 500, currency: "EUR" };
const hs = (p: Partial<HsPaymentT>): HsPaymentT => ({
  payment_id: "pay_1",
  status: "succeeded",
  amount: 500,
  net_amount: 500,
  amount_capturable: 0,
  amount_received: 500,
  currency: "EUR",
  ...p,
});

test("equal amounts: one line saying which were compared", () => {
  const a = checkAmounts(ORDER, hs({}));
  assert.equal(a.mismatch, null);
  assert.equal(a.facts.amount_check, "order total = orchestrator amount = net_amount = amount_received: 5.00 EUR");
  assert.deepEqual(a.captured, { minor: 500, currency: "EUR" });
  assert.equal(a.capturedSource, "the orchestrator's amount_received");
});

test("a surcharge: both amounts and their sources, the surcharge shown", () => {
  const a = checkAmounts(
    ORDER,
    hs({ net_amount: 550, amount_received: 550, surcharge_details: { surcharge_amount: 50 } }),
  );
  assert.equal(
    a.mismatch,
    "the orchestrator's net_amount is 5.50 EUR (amount 5.00 EUR + surcharge 0.50 EUR) but the order's total is 5.00 EUR (the marketplace order's total_cents); the orchestrator captured 5.50 EUR (payment amount_received) but the order's total is 5.00 EUR (the marketplace order's total_cents)",
  );
  assert.deepEqual(a.facts.surcharge, { minor: 50, currency: "EUR" });
  assert.deepEqual(a.captured, { minor: 550, currency: "EUR" });
});

test("minor units or currency wrong at the orchestrator: named, not passed", () => {
  assert.match(
    checkAmounts(ORDER, hs({ amount: 50000, net_amount: 50000, amount_received: 50000 })).mismatch ?? "",
    /^the orchestrator's amount is 500\.00 EUR \(payment amount\) but the order's total is 5\.00 EUR/,
  );
  assert.equal(
    checkAmounts(ORDER, hs({ currency: "USD" })).mismatch,
    "the orchestrator's currency is USD (payment currency) but the order's is EUR (the marketplace order's currency)",
  );
});

test("partial capture: captured only x of y; null amount_received on a partial status is not a PASS", () => {
  assert.match(
    checkAmounts(ORDER, hs({ status: "partially_captured", amount_received: 100 })).mismatch ?? "",
    /the orchestrator captured only 1\.00 EUR of 5\.00 EUR \(payment amount_received, status partially_captured/,
  );
  assert.match(
    checkAmounts(ORDER, hs({ status: "partially_captured", amount_received: null })).mismatch ?? "",
    /says partially_captured without saying how much it captured \(amount_received null\)/,
  );
});

test("nothing captured yet (processing, held): no mismatch, and the fact says amount_received was not compared", () => {
  for (const status of ["processing", "requires_capture"]) {
    const a = checkAmounts(ORDER, hs({ status, amount_received: null, amount_capturable: 500 }));
    assert.equal(a.mismatch, null, status);
    assert.match(a.facts.amount_check, new RegExp(`nothing captured yet \\(${status}\\)`));
    assert.equal(a.facts.captured, undefined);
  }
});

test("no orchestrator view: 'against the marketplace only', naming why, and no captured fact", () => {
  const a = checkAmounts(ORDER, null);
  assert.equal(a.mismatch, null);
  assert.equal(
    a.facts.amount_check,
    "against the marketplace only (order total 5.00 EUR): no orchestrator view (HYPERSWITCH_URL not set), so the amount charged and captured were not compared",
  );
  assert.deepEqual(Object.keys(a.facts), ["amount_check"]);
  assert.match(
    checkAmounts(ORDER, null, { noView: "HYPERSWITCH_API_KEY not set" }).facts.amount_check,
    /API_KEY not set/,
  );
});

test("live: LIVE_CONFIRM is checked against the captured amount", () => {
  const ok = checkAmounts(ORDER, hs({}), { live: { mode: "live", confirm: "charge 5.00 EUR" } });
  assert.equal(ok.mismatch, null);
  const off = checkAmounts(ORDER, hs({ amount_received: 550, net_amount: 550 }), {
    live: { mode: "live", confirm: "charge 5.00 EUR" },
  });
  assert.match(off.mismatch ?? "", /LIVE_CONFIRM "charge 5\.00 EUR" does not name what was captured: 5\.50 EUR/);
  // staging never asks for the phrase
  assert.doesNotMatch(
    checkAmounts(ORDER, hs({ amount_received: 550, net_amount: 550 }), { live: { mode: "staging", confirm: "" } })
      .mismatch ?? "",
    /LIVE_CONFIRM/,
  );
});

test("failed after a hold is needs_action with hold advice, never no_money", () => {
  const failed = hs({ status: "failed", amount_received: null, amount_capturable: 0 });
  assert.equal(classifyPayment(failed, null).class, "no_money", "a plain failure stays no money moved");
  assert.match(paymentAdvice(classifyPayment(failed, null), "pay_1"), /no money moved/);
  for (const [p, held, why] of [
    [failed, "requires_capture seen at 2026-12-06T01:00:00.000Z in this session", /requires_capture seen at/],
    [hs({ status: "failed", amount_capturable: 500, amount_received: null }), null, /amount_capturable 5\.00 EUR/],
    [hs({ status: "failed", amount_capturable: 0, amount_received: 500 }), null, /amount_received 5\.00 EUR/],
    [
      hs({
        status: "failed",
        amount_capturable: 0,
        amount_received: null,
        attempts: [{ attempt_id: "a1", status: "void_failed" }],
      }),
      null,
      /attempt a1 void_failed/,
    ],
  ] as const) {
    const c = classifyPayment(p, held);
    assert.equal(c.class, "needs_action");
    assert.match(c.hold ?? "", why);
    const advice = paymentAdvice(c, "pay_1");
    assert.doesNotMatch(advice, /no money moved/);
    assert.match(advice, /the hold may still be on the card — do not pay again yet/);
  }
  // cancelled is a void that succeeded: no money moved, hold or not
  assert.equal(holdAfterFailure(hs({ status: "cancelled" }), "requires_capture seen"), null);
});
