// Issue 12: the orchestrator's status class decides steps 4 and 5. One scenario per class the
// sandbox double can produce today (named `hsStatus…` so the double's new knobs — refund failed or
// in review, other payment outcomes — can add theirs beside them):
//  12a. no money moved (a declined card: orchestrator `failed`): step 4 FAILs with "pay again in a
//       fresh session", nothing is confirmed, no refund is possible or needed;
//  12b. in flight (`processing` for good): step 5 waits to its deadline, then says escalate with the
//       payment reference (never "refund" and never "fine").
import assert from "node:assert/strict";
import { payHeadless } from "../../../lib/clients/payer";
import { statusLine, upToPaid } from "../drive";
import { ROUTE, type Scenario } from "../harness";

export const hsStatusNoMoney: Scenario = {
  n: "12a",
  title: "orchestrator says failed (declined card): step 4 FAIL, no money moved",
  async run({ w, delta }) {
    const rb = w.open(w.newSession(), { HYPERSWITCH_URL: w.sb.hyperswitchUrl });
    try {
      for (const r of [
        await rb.run("preflight"),
        await rb.run("login"),
        await rb.run("product"),
        await rb.run("order"),
      ])
        assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
      const url = (await rb.getOrder(rb.order!.id)).payment_url;
      await payHeadless(url, "declined", { browser: false });
      const s4 = await rb.confirmPaid({ last4: "0002", processor: "sandbox_card" });
      assert.equal(s4.status, "FAIL");
      assert.match(s4.reason ?? "", /payment \S+ is failed: no money moved; pay again in a fresh session/);
      assert.equal(rb.moneyMoved, false);
      assert.equal(rb.moneyOutstanding, false);
      const d = await delta();
      assert.equal(d.routes[ROUTE.refund] ?? 0, 0, "no refund for money that never moved");
      return { outcome: statusLine(rb), notes: `"${(s4.reason ?? "").replace(/^.*?(the orchestrator)/, "$1")}"` };
    } finally {
      await rb.close();
    }
  },
};

export const hsStatusInFlight: Scenario = {
  n: "12b",
  title: "orchestrator keeps the payment processing: step 5 says escalate with the reference",
  timeoutMs: 60_000,
  async run({ w }) {
    w.sb.setFaults({ stuckProcessing: true });
    const rb = w.open(w.newSession(), { HYPERSWITCH_URL: w.sb.hyperswitchUrl, POLL_DEADLINE_S: 5 });
    try {
      for (const r of [
        await rb.run("preflight"),
        await rb.run("login"),
        await rb.run("product"),
        await rb.run("order"),
      ])
        assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
      const url = (await rb.getOrder(rb.order!.id)).payment_url;
      const paid = await payHeadless(url, "success", { browser: false });
      const s4 = await rb.confirmPaid({ last4: paid.last4, processor: paid.connector ?? "stripe" });
      assert.equal(s4.status, "PASS", s4.reason);
      const s5 = await rb.run("completed");
      assert.equal(s5.status, "FAIL");
      const ref = rb.order!.paymentId;
      assert.match(
        s5.reason ?? "",
        new RegExp(`is processing: money may have moved — escalate .* with payment ${ref}`),
      );
      assert.doesNotMatch(s5.reason ?? "", /refund it at the orchestrator/);
      assert.ok(rb.moneyOutstanding, "money may have moved: the refund stays in sight");
      return { outcome: statusLine(rb), notes: "step 5: escalate with the payment reference" };
    } finally {
      await rb.close();
    }
  },
};

/** Steps 0–4 (paid by the test over HTTP; the orchestrator says `processing`), then step 5. */
async function payThenPoll(w: Parameters<Scenario["run"]>[0]["w"], outcome: string, deadlineS = 6) {
  w.sb.setFaults({ paymentOutcome: outcome as never });
  const rb = w.open(w.newSession(), { HYPERSWITCH_URL: w.sb.hyperswitchUrl, POLL_DEADLINE_S: deadlineS });
  await upToPaid(rb);
  const m0 = performance.now();
  const s5 = await rb.run("completed");
  return { rb, s5, waited: (performance.now() - m0) / 1000 };
}

/** One scenario per payment outcome knob: step 5's advice follows the orchestrator's class. */
function paymentOutcome(n: string, outcome: string, title: string, advice: RegExp, early: boolean): Scenario {
  return {
    n,
    title: `paymentOutcome=${outcome}: ${title}`,
    timeoutMs: 60_000,
    async run({ w, delta }) {
      const { rb, s5, waited } = await payThenPoll(w, outcome);
      try {
        assert.equal(s5.status, "FAIL", s5.reason);
        assert.match(s5.reason ?? "", advice);
        assert.match(s5.reason ?? "", new RegExp(rb.order!.paymentId), "the advice names the payment");
        if (early) assert.ok(waited < 5, `stopped early (${waited.toFixed(1)} s), not at the deadline`);
        const d = await delta();
        assert.deepEqual([d.orders, d.payments, d.refunds, d.routes[ROUTE.orders]], [1, 1, 0, 1]);
        return {
          outcome: statusLine(rb),
          notes: `step 5 after ${waited.toFixed(1)} s: "${(s5.reason ?? "").replace(/^.*?(the orchestrator)/, "$1").slice(0, 110)}…"`,
        };
      } finally {
        await rb.close();
      }
    },
  };
}

export const hsPaymentOutcomes: Scenario[] = [
  paymentOutcome("12c", "requires_capture", "funds held → void the hold", /void the hold at the orchestrator/, false),
  paymentOutcome(
    "12d",
    "partially_captured",
    "money moved → refund at the orchestrator",
    /money moved but the order never completed: .* so refund it at the orchestrator/,
    false,
  ),
  paymentOutcome("12e", "cancelled", "no money moved, stops early", /is cancelled: no money moved/, true),
  paymentOutcome("12f", "expired", "no money moved, stops early", /is expired: no money moved/, true),
  paymentOutcome("12g", "requires_customer_action", "3DS abandoned → not paid", /requires_customer_action/, false),
];

export const hsRefundFailed: Scenario = {
  n: "12h",
  title: "refundOutcome=failed: step 8/9 FAIL at once; step 8 again makes attempt 2 with a new key",
  timeoutMs: 90_000,
  async run({ w, delta }) {
    w.sb.setFaults({ refundOutcome: "failed" });
    const rb = w.open(w.newSession(), { HYPERSWITCH_URL: w.sb.hyperswitchUrl, REFUND_DEADLINE_S: 20 });
    try {
      await upToPaid(rb);
      const checks = [await rb.run("completed"), await rb.run("licence"), await rb.run("transfer")];
      for (const r of checks) assert.equal(r.status, "PASS", r.reason);
      const s8 = await rb.run("refund");
      const s9 = await rb.run("refunded");
      const failed = [s8, s9].find((r) => r.status === "FAIL");
      assert.ok(failed, `step 8 or 9 FAILs on the failed refund (8 ${s8.status}, 9 ${s9.status})`);
      assert.match(failed.reason ?? "", /failed/);
      assert.ok(rb.moneyOutstanding, "the money-moved banner stays: no refund succeeded");
      w.sb.setFaults({ refundOutcome: "succeeded" });
      const again = await rb.run("refund");
      assert.equal(again.status, "PASS", again.reason);
      assert.equal(again.observed.attempt, 2);
      const done = await rb.run("refunded");
      assert.equal(done.status, "PASS", done.reason);
      assert.equal(rb.moneyOutstanding, false);
      const d = await delta();
      assert.deepEqual([d.orders, d.payments, d.refunds, d.routes[ROUTE.refund]], [1, 1, 2, 2]);
      return {
        outcome: `attempt 1 failed → attempt 2 PASS; ${statusLine(rb)}`,
        notes: `"${(failed.reason ?? "").slice(0, 100)}…"`,
      };
    } finally {
      await rb.close();
    }
  },
};

export const hsRefundReview: Scenario = {
  n: "12i",
  title: "refundOutcome=review: step 9 stops early, escalate with the refund reference; no second refund",
  timeoutMs: 90_000,
  async run({ w, delta }) {
    w.sb.setFaults({ refundOutcome: "review" });
    const rb = w.open(w.newSession(), { HYPERSWITCH_URL: w.sb.hyperswitchUrl, REFUND_DEADLINE_S: 30 });
    try {
      await upToPaid(rb);
      for (const r of [
        await rb.run("completed"),
        await rb.run("licence"),
        await rb.run("transfer"),
        await rb.run("refund"),
      ])
        assert.equal(r.status, "PASS", r.reason);
      const m0 = performance.now();
      const s9 = await rb.run("refunded");
      const waited = (performance.now() - m0) / 1000;
      assert.equal(s9.status, "FAIL");
      assert.match(s9.reason ?? "", /escalate/);
      assert.ok(waited < 20, `stopped early (${waited.toFixed(1)} s)`);
      const again = await rb.run("refund");
      assert.notEqual(again.observed.attempt, 2, "a refund in review is never duplicated");
      assert.ok(rb.moneyOutstanding);
      const d = await delta();
      assert.deepEqual([d.orders, d.payments, d.refunds, d.routes[ROUTE.refund]], [1, 1, 1, 1]);
      return {
        outcome: statusLine(rb),
        notes: `step 9 after ${waited.toFixed(1)} s: "${(s9.reason ?? "").slice(0, 100)}…"`,
      };
    } finally {
      await rb.close();
    }
  },
};
