/** The backend clocks of steps 5 and 9 (lib/run/backend-time.ts), on the order bodies a backend may send. */
import { strict as assert } from "node:assert";
import { test } from "node:test";
import type { HsPaymentT, OrderT } from "../../lib/contract";
import type { JournalEntry } from "../../lib/evidence/journal";
import {
  TIME_TOLERANCE_MS,
  answerTime,
  backendInterval,
  impossibleTime,
  paidTime,
  paidTimeProblem,
  reachedTime,
  readTime,
  refundCreatedTime,
} from "../../lib/run/backend-time";

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

test("the interval: rounded to 0.1 s, 'not measured' with the reason; an end before its start is 0 s only within the skew tolerance", () => {
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
  // 320 s before its start: not two clocks' skew, an impossible time — never a 0 s that ticks the gate.
  const early = backendInterval(to, "x", from, "y");
  assert.equal(early.seconds, null);
  assert.equal(early.negative, undefined);
  assert.match(
    early.impossible ?? "",
    /^the order's paid_at \(2026-12-06T10:00:00.000Z\) is 320.0 s before the order's completed_at \(2026-12-06T10:05:20.049Z\)$/,
  );
  assert.match(early.countedFrom, /^not measured: the order's paid_at/);
  // Within the tolerance (two services' clocks): 0 s, and the skew said.
  const skewed = { at: new Date(Date.parse(from.at) - TIME_TOLERANCE_MS + 1000).toISOString(), source: "end" };
  const near = backendInterval(from, "x", skewed, "y");
  assert.equal(near.seconds, 0);
  assert.equal(near.negative, -(TIME_TOLERANCE_MS - 1000) / 1000);
  assert.equal(near.impossible, undefined);
});

test("a backend time is ISO 8601 with a zone: no zone, another format or an impossible date is not a time", () => {
  assert.deepEqual(readTime("2022-09-10T10:11:12.000000000Z"), { at: "2022-09-10T10:11:12.000Z" });
  assert.deepEqual(readTime("2026-12-06T11:00:05+01:00"), { at: "2026-12-06T10:00:05.000Z" });
  assert.equal(readTime(null), null);
  assert.equal(readTime(undefined), null);
  assert.equal(readTime(""), null);
  for (const [v, why] of [
    ["2026-12-06T10:00:05", /has no time zone \(it would be read in this machine's zone\)$/],
    ["2026-12-06 10:00:05.123", /has no time zone/],
    ["12/06/2026", /is not an ISO 8601 time$/],
    ["Dec 6 2026 10:00", /is not an ISO 8601 time$/],
    ["2026-02-30T00:00:00Z", /is not a calendar time$/],
    ["2026-12-06T24:00:00Z", /is not a calendar time$/],
    [42, /is not a time$/],
  ] as const) {
    const r = readTime(v);
    assert.ok(r && "problem" in r, `${v}: ${JSON.stringify(r)}`);
    assert.match(r.problem, why);
  }
  assert.match((readTime("x".repeat(500)) as { problem: string }).problem, /^"x{40}…" is not/, "quoted and cut");
});

test("a payment time field that is not a time: no time taken from any other field, and the problem named", () => {
  const o = order({ status: "completed", paid_at: "2026-12-06T10:00:05", updated_at: "2026-12-06T10:05:25.000Z" });
  assert.equal(paidTime(hs("2026-12-06T10:05:24.900Z"), o), null, "neither the orchestrator's time nor updated_at");
  assert.match(
    paidTimeProblem(hs("2026-12-06T10:05:24.900Z"), o) ?? "",
    /^the order's paid_at "2026-12-06T10:00:05" has no time zone/,
  );
  assert.match(
    paidTimeProblem(hs("yesterday"), null) ?? "",
    /^the orchestrator's payment time "yesterday" is not an ISO/,
  );
  const processing = order({ status: "processing", updated_at: "garbage-garbage" });
  assert.equal(paidTime(null, processing), null);
  assert.match(paidTimeProblem(null, processing) ?? "", /^the order's updated_at "garbage-garbage"/);
  assert.equal(paidTimeProblem(hs("2026-12-06T10:05:24.900Z"), order({ paid_at: "2026-12-06T10:00:05Z" })), null);
});

test("reached: a completed_at that is not a time is the problem, never the updated_at in its place", () => {
  const c = order({ status: "completed", completed_at: "soon", updated_at: "2026-12-06T10:06:00.000Z" });
  assert.deepEqual(reachedTime(c, "completed"), { problem: `the order's completed_at "soon" is not an ISO 8601 time` });
  const r = order({ status: "refunded", updated_at: "2026-12-06 10:09:00" });
  assert.match((reachedTime(r, "refunded") as { problem: string }).problem, /^the order's updated_at .* no time zone/);
});

test("impossible: before a time it must follow, or after the answer that carried it, beyond the tolerance", () => {
  const paid = { at: "2026-12-06T10:00:00.000Z", source: "the order's paid_at" };
  const refund = { at: "2026-12-06T09:00:00.000Z", source: "the refund's created_at" };
  assert.equal(
    impossibleTime(refund, { notBefore: [null, paid] }),
    "the refund's created_at (2026-12-06T09:00:00.000Z) is 3600.0 s before the order's paid_at (2026-12-06T10:00:00.000Z)",
  );
  assert.equal(impossibleTime(paid, { notBefore: [refund] }), null);
  // The answer's Date header, truncated to the second: one second is allowed on top of the tolerance.
  const answered = answerTime({ serverDate: "Sun, 06 Dec 2026 09:59:00 GMT", receivedAt: "2026-12-06T09:00:00.000Z" });
  assert.deepEqual(answered, {
    at: "2026-12-06T09:59:01.000Z",
    source: "the Date header of the answer that carried it",
  });
  assert.equal(
    impossibleTime(paid, { answered }),
    "the order's paid_at (2026-12-06T10:00:00.000Z) is 59.0 s after the Date header of the answer that carried it (2026-12-06T09:59:01.000Z): a time in the future",
  );
  const local = answerTime({ serverDate: null, receivedAt: "2026-12-06T09:59:56.000Z" });
  assert.equal(local?.source, "when this machine received the answer (it had no Date header)");
  assert.equal(impossibleTime(paid, { answered: local }), null, "4 s: within the tolerance");
  assert.equal(answerTime({}), null);
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
