/**
 * The runbook's side of the conformance test (issue 12 §4): the client's orchestrator schemas
 * (lib/contract.ts) parse Hyperswitch-shaped samples written from its API reference — a card
 * payment, a wallet payment (no card), a card with a null last4, refunds that failed or are in
 * review — and the cross-check still describes them (it must never silently disappear).
 */
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { HsPayment, HsRefund } from "../../lib/contract";
import { describeHsPayment } from "../../lib/run/pay";
import { INTENT_STATUSES, REFUND_STATUSES, paymentClass, refundClass } from "../../lib/run/hs-status";
import { PAYMENT_SAMPLES, REFUND_SAMPLES, WEBHOOK_SAMPLES } from "./samples";
import { IntentStatus, OutgoingWebhook, PaymentsResponse, RefundResponse, RefundStatus } from "./hyperswitch";

for (const [name, sample] of Object.entries(PAYMENT_SAMPLES)) {
  test(`payment sample ${name}: valid per the reference, parsed and described by the runbook`, () => {
    assert.ok(PaymentsResponse.safeParse(sample).success, "the sample itself follows the reference");
    const p = HsPayment.safeParse(sample);
    assert.ok(p.success, p.success ? "" : JSON.stringify(p.error.issues));
    const text = describeHsPayment(p.data);
    assert.ok(text.startsWith(sample.status), text);
    assert.doesNotMatch(text, /undefined|null/);
    assert.ok(paymentClass(sample.status), "every sample status has a class");
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
    assert.ok(refundClass(r.data.status));
  });
}

for (const [name, sample] of Object.entries(WEBHOOK_SAMPLES)) {
  test(`webhook sample ${name} follows the reference envelope`, () => {
    assert.ok(OutgoingWebhook.safeParse(sample).success);
  });
}

test("the runbook's status table covers exactly the statuses of the reference (kept apart on purpose, checked here)", () => {
  assert.deepEqual([...INTENT_STATUSES].sort(), [...IntentStatus.options].sort());
  assert.deepEqual([...REFUND_STATUSES].sort(), [...RefundStatus.options].sort());
});
