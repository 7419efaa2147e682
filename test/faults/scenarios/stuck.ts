// §7.2 Money moved, the order never completes. Two ways it happens:
//  a. stuckProcessing: the orchestrator itself keeps the payment `processing` (the sandbox never
//     settles it), so the cross-check must NOT claim the payment succeeded;
//  b. a lost webhook: the orchestrator settles the payment but the marketplace never applies it.
//     The sandbox has no knob for that, so the test marks the order's last applied payment event as
//     far in the future: the marketplace then drops every payment webhook for it as stale.
// Both: step 5 FAILs at its deadline, 6 and 7 are SKIPPED with the reason, step 8 stays available
// and reports what the backend said, and the evidence (journal + hash-chained trace) is on disk.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { JOURNAL_FILE, TRACE_FILE } from "../../../lib/evidence/files";
import type { Runbook } from "../../../lib/run/runbook";
import { readTrace, verifyChain } from "../../../lib/evidence/chain";
import { assertNoUndefined, payAndConfirm, statusLine, upToPaid } from "../drive";
import { ROUTE, type Scenario } from "../harness";

const DEADLINE_S = 6;

/** Steps 5–9 after a payment whose order will not complete; asserts what every variant shares. */
async function afterStuckPayment(rb: Runbook, lastStatus: string) {
  const t0 = performance.now();
  const s5 = await rb.run("completed");
  const waited = (performance.now() - t0) / 1000;
  assert.equal(s5.status, "FAIL");
  assert.match(
    s5.reason ?? "",
    new RegExp(`^order completed not reached within ${DEADLINE_S} s \\(last status: ${lastStatus}\\)`),
  );
  assert.ok(
    waited >= DEADLINE_S - 1.5 && waited <= DEADLINE_S + 4,
    `step 5 gave up after ${waited.toFixed(1)} s, deadline ${DEADLINE_S} s`,
  );
  assert.ok(rb.moneyMoved, "the payment was confirmed: money moved");

  for (const r of [await rb.run("licence"), await rb.run("transfer")]) {
    assert.equal(r.status, "SKIPPED", `step ${r.step}`);
    assert.match(r.reason ?? "", /^step 5 failed at \d\d:\d\d:\d\dZ \(this machine's clock\)$/);
  }
  // Money moved ⇒ a way back: step 8 is not skipped. The marketplace refunds completed orders only,
  // so here it answers 409 and the runbook reports exactly that (escalation, not silence).
  const s8 = await rb.run("refund");
  assert.equal(s8.status, "FAIL");
  assert.match(
    s8.reason ?? "",
    new RegExp(`answered 409: order is ${lastStatus}; only completed orders can be refunded`),
  );
  const s9 = await rb.run("refunded");
  assert.equal(s9.status, "SKIPPED");
  assert.match(s9.reason ?? "", /^step 8 failed at /);

  // Evidence saved: journal and trace on disk, chain intact, step 5's failure in both.
  assert.ok(fs.existsSync(path.join(rb.dir, JOURNAL_FILE)));
  const chain = verifyChain(path.join(rb.dir, TRACE_FILE));
  assert.ok(chain.ok, `trace chain broken: ${JSON.stringify(chain.firstBroken)}`);
  const ends = readTrace(path.join(rb.dir, TRACE_FILE))
    .filter((e) => e.type === "step_end")
    .map((e) => e.payload as { step: number; status: string });
  assert.deepEqual(ends.find((e) => e.step === 5)?.status, "FAIL");
  assert.ok(rb.journal.all().some((e) => e.kind === "step_result" && e.data.step === 5 && e.data.status === "FAIL"));
  return { s5, waited };
}

export const stuckProcessing: Scenario = {
  n: "2a",
  title: "stuck order (stuckProcessing): orchestrator keeps it processing",
  async run({ w, delta }) {
    w.sb.setFaults({ stuckProcessing: true });
    const rb = w.open(w.newSession(), { POLL_DEADLINE_S: DEADLINE_S });
    try {
      await upToPaid(rb);
      const { s5, waited } = await afterStuckPayment(rb, "processing");
      // What the sandbox models: the orchestrator's payment is processing too, so the cross-check
      // must not claim "payment succeeded while the order never completed".
      assert.match(String(s5.observed.orchestrator), /^processing •••• 4242/);
      assert.doesNotMatch(s5.reason ?? "", /money moved/);
      const d = await delta();
      assert.deepEqual([d.orders, d.payments, d.refunds, d.licenses_active, d.seller_transfers], [1, 1, 0, 0, 0]);
      assert.equal(d.routes[ROUTE.refund], 1);
      return {
        outcome: statusLine(rb),
        notes: `step 5 gave up after ${waited.toFixed(0)} s (deadline ${DEADLINE_S} s); orchestrator: processing; step 8: 409 not refundable; trace chain ok`,
      };
    } finally {
      await rb.close();
    }
  },
};

export const lostWebhook: Scenario = {
  n: "2b",
  title: "payment succeeded at the orchestrator, order never completed (lost webhook)",
  async run({ w, delta }) {
    const rb = w.open(w.newSession(), { POLL_DEADLINE_S: DEADLINE_S });
    try {
      for (const step of [
        () => rb.run("preflight"),
        () => rb.run("login"),
        () => rb.run("product"),
        () => rb.run("order"),
      ])
        assert.equal((await step()).status, "PASS");
      const orderId = rb.order!.id;
      await w.sql("UPDATE orders SET payment_updated = '2999-01-01T00:00:00Z' WHERE id = $1", [orderId]);
      assert.equal((await payAndConfirm(rb)).status, "PASS");
      const { s5, waited } = await afterStuckPayment(rb, "pending");
      assert.match(
        s5.reason ?? "",
        /money moved but the order never completed: the orchestrator says the payment \S+ succeeded \(captured \d+\.\d{2} EUR: amount_received\) while the order is pending — the marketplace refunds only completed orders, so refund it at the orchestrator \(Hyperswitch dashboard\)/,
      );
      assert.match(String(s5.observed.orchestrator), /^succeeded •••• 4242/);
      assert.ok(
        rb.anomalies.some(
          (a) =>
            a.step === 5 &&
            a.kind === "warning" &&
            /payment \S+ succeeded \(captured \d+\.\d{2} EUR: amount_received\) while the order is pending/.test(
              a.message,
            ),
        ),
      );
      const [hs] = await w.sql<{ status: string }>(
        "SELECT p.status FROM hs_payments p JOIN orders o ON o.hyperswitch_payment_id = p.payment_id WHERE o.id = $1",
        [orderId],
      );
      assert.equal(hs.status, "succeeded");
      const stale = await w.sql<{ n: number }>(
        "SELECT count(*)::int AS n FROM webhook_events e JOIN orders o ON e.resource_id = o.hyperswitch_payment_id WHERE o.id = $1 AND e.reason = 'stale_event'",
        [orderId],
      );
      assert.ok(stale[0].n >= 1, "the marketplace never saw the payment webhook at all");
      const d = await delta();
      assert.deepEqual([d.orders, d.payments, d.refunds, d.licenses_active], [1, 1, 0, 0]);
      return {
        outcome: statusLine(rb),
        notes: `step 5 gave up after ${waited.toFixed(0)} s; cross-check: orchestrator says succeeded → "money moved but the order never completed" reported + anomaly; step 8: 409 → refund at the orchestrator, escalate`,
      };
    } finally {
      await rb.close();
    }
  },
};

export const unreadableOrder: Scenario = {
  n: "2c",
  title: "every poll answered 503 after the payment, then the backend recovers",
  async run({ w, delta }) {
    const rb = w.open(w.newSession(), { POLL_DEADLINE_S: DEADLINE_S });
    try {
      await upToPaid(rb);
      w.sb.setFaults({ errorRate: 1, retryAfterS: 1 });
      const s5 = await rb.run("completed");
      assert.equal(s5.status, "FAIL");
      assert.match(
        s5.reason ?? "",
        new RegExp(
          `^order completed not reached within ${DEADLINE_S} s \\(last status: none\\); money moved but the order never completed: the orchestrator says the payment \\S+ succeeded \\(captured \\d+\\.\\d{2} EUR: amount_received\\) while the order could not be read`,
        ),
      );
      assert.ok(rb.anomalies.filter((a) => a.step === 5 && a.kind === "http_5xx").length >= 3);
      for (const r of [await rb.run("licence"), await rb.run("transfer")]) assert.equal(r.status, "SKIPPED");
      assertNoUndefined(rb);
      // The backend recovers: the refund, still available, gives the money back.
      w.sb.setFaults({ errorRate: 0 });
      const [s8, s9] = [await rb.run("refund"), await rb.run("refunded")];
      assert.deepEqual([s8.status, s9.status], ["PASS", "PASS"], `${s8.reason ?? ""} ${s9.reason ?? ""}`);
      const d = await delta();
      assert.deepEqual([d.orders, d.payments, d.refunds, d.licenses_active], [1, 1, 1, 0]);
      const polls = rb.samples.filter((s) => s.step === 5).length;
      return {
        outcome: statusLine(rb),
        notes: `${polls} polls, all 503 (Retry-After honoured); "order could not be read" (not "null"); refund after recovery`,
      };
    } finally {
      await rb.close();
    }
  },
};
