/**
 * The runbook's side of the conformance test (issue 12 §4): the client's orchestrator schemas
 * (lib/contract.ts) parse Hyperswitch-shaped samples written from its API reference — a card
 * payment, a wallet payment (no card), a card with a null last4, refunds that failed or are in
 * review — and the cross-check still describes them (it must never silently disappear).
 */
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { HS_PAYMENT_NEEDS, HS_REFUND_NEEDS, HsPayment, HsRefund } from "../../lib/contract";
import {
  INTENT_STATUSES,
  type IntentStatus as IntentStatusT,
  PAYMENTS_RESPONSE_REQUIRED,
  REFUND_RESPONSE_REQUIRED,
  REFUND_STATUSES,
  type RefundStatus as RefundStatusT,
} from "../../lib/hs-reference";
import { describeHsPayment } from "../../lib/run/steps/payment";
import { type MoneyClass, paymentClass, refundClass } from "../../lib/run/hs-status";
import { PAYMENT_SAMPLES, REFUND_SAMPLES, WEBHOOK_SAMPLES } from "./samples";
import { IntentStatus, OutgoingWebhook, PaymentsResponse, RefundResponse, RefundStatus } from "./hyperswitch";

/**
 * The class each status of the reference gets. Typed over the generated lists: a status the reference
 * gains is a compile error here until it is given a class, and the tests below fail at run time too.
 */
const PAYMENT_CLASS: Record<IntentStatusT, MoneyClass> = {
  succeeded: "money_moved",
  partially_captured: "money_moved",
  partially_captured_and_capturable: "money_moved",
  requires_capture: "funds_held",
  partially_authorized_and_requires_capture: "funds_held",
  failed: "no_money",
  cancelled: "no_money",
  expired: "no_money",
  processing: "in_flight",
  partially_captured_and_processing: "in_flight",
  requires_customer_action: "in_flight",
  requires_payment_method: "in_flight",
  requires_confirmation: "in_flight",
  requires_merchant_action: "needs_action",
  conflicted: "needs_action",
  cancelled_post_capture: "needs_action",
};
const REFUND_CLASS: Record<RefundStatusT, MoneyClass> = {
  succeeded: "money_moved",
  failed: "no_money",
  pending: "in_flight",
  review: "needs_action",
};

test("every status of the reference has its class in the runbook's table, known, none left to the unknown rule", () => {
  for (const s of INTENT_STATUSES) {
    const c = paymentClass(s);
    assert.deepEqual([c.class, c.known], [PAYMENT_CLASS[s], true], `payment status ${s}`);
  }
  for (const s of REFUND_STATUSES) {
    const c = refundClass(s);
    assert.deepEqual([c.class, c.known], [REFUND_CLASS[s], true], `refund status ${s}`);
  }
  // Nothing in the expected tables that the reference does not list (a stale entry would hide a rename).
  assert.deepEqual(Object.keys(PAYMENT_CLASS).sort(), [...INTENT_STATUSES].sort());
  assert.deepEqual(Object.keys(REFUND_CLASS).sort(), [...REFUND_STATUSES].sort());
});

/** The fields a zod object schema requires (those that refuse undefined). */
const requiredOf = (schema: { shape: Record<string, { safeParse(v: unknown): { success: boolean } }> }) =>
  Object.entries(schema.shape)
    .filter(([, field]) => !field.safeParse(undefined).success)
    .map(([k]) => k)
    .sort();

test("the client requires only fields the reference requires (never one Hyperswitch may leave out)", () => {
  assert.deepEqual(requiredOf(HsPayment), [...HS_PAYMENT_NEEDS].sort());
  assert.deepEqual(requiredOf(HsRefund), [...HS_REFUND_NEEDS].sort());
  for (const f of HS_PAYMENT_NEEDS) assert.ok((PAYMENTS_RESPONSE_REQUIRED as readonly string[]).includes(f), f);
  for (const f of HS_REFUND_NEEDS) assert.ok((REFUND_RESPONSE_REQUIRED as readonly string[]).includes(f), f);
});

for (const [name, sample] of Object.entries(PAYMENT_SAMPLES)) {
  test(`payment sample ${name}: valid per the reference, parsed and described by the runbook`, () => {
    assert.ok(PaymentsResponse.safeParse(sample).success, "the sample itself follows the reference");
    const p = HsPayment.safeParse(sample);
    assert.ok(p.success, p.success ? "" : JSON.stringify(p.error.issues));
    const text = describeHsPayment(p.data);
    assert.ok(text.startsWith(sample.status), text);
    assert.doesNotMatch(text, /undefined|null/);
    const c = paymentClass(sample.status);
    assert.deepEqual([c.class, c.known], [PAYMENT_CLASS[sample.status as IntentStatusT], true], sample.status);
  });
}

test("the card payment shows its last 4, the wallet payment says wallet, a null last4 shows none", () => {
  const d = (s: unknown) => describeHsPayment(HsPayment.parse(s));
  assert.match(d(PAYMENT_SAMPLES.cardPaymentSucceeded), /•••• \d{4}/);
  assert.match(d(PAYMENT_SAMPLES.walletPaymentSucceeded), /wallet/);
  assert.doesNotMatch(d(PAYMENT_SAMPLES.cardPaymentNullLast4), /••••/);
});

for (const [name, sample] of Object.entries(REFUND_SAMPLES)) {
  test(`refund sample ${name}: valid per the reference and parsed by the runbook`, () => {
    assert.ok(RefundResponse.safeParse(sample).success);
    const r = HsRefund.safeParse(sample);
    assert.ok(r.success, r.success ? "" : JSON.stringify(r.error.issues));
    const c = refundClass(r.data.status);
    assert.deepEqual([c.class, c.known], [REFUND_CLASS[r.data.status as RefundStatusT], true], r.data.status);
  });
}

for (const [name, sample] of Object.entries(WEBHOOK_SAMPLES)) {
  test(`webhook sample ${name} follows the reference envelope`, () => {
    assert.ok(OutgoingWebhook.safeParse(sample).success);
  });
}

test("the runbook's status table and the conformance schemas read the same generated lists", () => {
  assert.deepEqual([...INTENT_STATUSES].sort(), [...IntentStatus.options].sort());
  assert.deepEqual([...REFUND_STATUSES].sort(), [...RefundStatus.options].sort());
});
