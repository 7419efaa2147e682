/** The backend clocks of steps 5 and 9 (lib/run/backend-time.ts), on the order bodies a backend may send. */
import { strict as assert } from "node:assert";
import { test } from "node:test";
import type { HsPaymentT, OrderT } from "../../lib/contract";
import type { JournalEntry } from "../../lib/evidence/journal";
import { backendInterval, paidTime, reachedTime, refundCreatedTime } from "../../lib/run/backend-time";

const order = (o: Partial<OrderT>): OrderT =>
  ({
    id: "ord_1",
    status: "processing",
    product_id: "prd_1",
    total_cents: 500,
    currency: "EUR",
    hyperswitch_payment_id: "pay_1",
    payment_url: "http://127.0.0.1:1/checkout/pay_1",
    created_at: "2026-12-06T10:00:00.000Z",
    ...o,
  }) as OrderT;
const hs = (updated: string | null): HsPaymentT =>
  ({ payment_id: "pay_1", status: "succeeded", amount: 500, currency: "EUR", updated }) as HsPaymentT;

test("the payment's time is the earliest backend time: a settled orchestrator `updated` loses to paid_at", () => {
  const o = order({ status: "completed", paid_at: "2026-12-06T10:00:05.000Z", updated_at: "2026-12-06T10:05:25.000Z" });
  assert.deepEqual(paidTime(hs("2026-12-06T10:05:24.900Z"), o), { at: o.paid_at, source: "the order's paid_at" });
  // A tie names the orchestrator (HYPERSWITCH_URL set); an offset time is normalised to Z.
  assert.deepEqual(paidTime(hs("2026-12-06T11:00:05+01:00"), o), {
    at: "2026-12-06T10:00:05.000Z",
    source: "the orchestrator's payment time",
  });
});

test("without paid_at: updated_at only while the order is processing, else no time at all", () => {
  const processing = order({ status: "processing", updated_at: "2026-12-06T10:00:05.000Z" });
  assert.deepEqual(paidTime(null, processing), {
    at: "2026-12-06T10:00:05.000Z",
    source: "the order's updated_at (order processing)",
  });
  assert.equal(paidTime(null, order({ status: "completed", updated_at: "2026-12-06T10:05:25.000Z" })), null);
  assert.equal(paidTime(hs(null), null), null);
  assert.equal(paidTime(null, order({ paid_at: "not a time" })), null);
});

test("reached: the order's own completed_at / refunded_at, else its updated_at while in that status", () => {
  const c = order({
    status: "completed",
    completed_at: "2026-12-06T10:05:25.000Z",
    updated_at: "2026-12-06T10:06:00.000Z",
  });
  assert.deepEqual(reachedTime(c, "completed"), { at: c.completed_at, source: "the order's completed_at" });
  const r = order({ status: "refunded", updated_at: "2026-12-06T10:09:00.000Z" });
  assert.deepEqual(reachedTime(r, "refunded"), {
    at: "2026-12-06T10:09:00.000Z",
    source: "the order's updated_at (order refunded)",
  });
  assert.equal(reachedTime(r, "completed"), null, "not completed now: no completion time taken from it");
  assert.equal(reachedTime(null, "refunded"), null);
});

test("the interval: rounded to 0.1 s, 'not measured' with the reason, skew recorded as 0 and flagged", () => {
  const from = { at: "2026-12-06T10:00:00.000Z", source: "the order's paid_at" };
  const to = { at: "2026-12-06T10:05:20.049Z", source: "the order's completed_at" };
  assert.deepEqual(backendInterval(from, "x", to, "y"), {
    seconds: 320,
    countedFrom:
      "the order's paid_at (2026-12-06T10:00:00.000Z) to the order's completed_at (2026-12-06T10:05:20.049Z)",
  });
  assert.deepEqual(backendInterval(null, "no payment time", to, "y"), {
    seconds: null,
    countedFrom: "not measured: no payment time",
  });
  assert.deepEqual(backendInterval(from, "x", null, "no completion time"), {
    seconds: null,
    countedFrom: "not measured: no completion time",
  });
  const early = backendInterval(to, "x", from, "y");
  assert.equal(early.seconds, 0);
  assert.equal(early.negative, -320);
});

test("the refund's created_at is attempt n's, from its POST answer as journaled", () => {
  const refund = (seq: number, attempt: number, created_at?: string): JournalEntry => ({
    seq,
    at: "2026-12-06T10:08:00.000Z",
    kind: "refund_created",
    data: { refund_id: `ref_${attempt}`, status: "pending", http_status: 202, attempt, created_at },
  });
  const entries = [refund(1, 1, "2026-12-06T10:06:00.000Z"), refund(2, 2, "2026-12-06T10:07:00.000Z"), refund(3, 3)];
  assert.equal(refundCreatedTime(entries, 1)?.at, "2026-12-06T10:06:00.000Z");
  assert.equal(refundCreatedTime(entries, 2)?.source, "the refund's created_at");
  assert.equal(refundCreatedTime(entries, 3), null, "no backend time: none made up");
});
