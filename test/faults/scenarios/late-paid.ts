// Issue 22 §1: the paid cell run late. The operator pays, the completion takes 3 s, and the paid cell
// is run 2 s after paying, in a session without HYPERSWITCH_URL (as `npm run session` opens one
// when --hyperswitch-url is not given). Step 5's seconds must count from the payment's own time (the
// order's paid_at) to the order's own completed_at, both from the backend — not from the paid cell —
// and steps 5–9 pass with one order, one payment, one refund.
import assert from "node:assert/strict";
import { payHeadless } from "../../../lib/clients/payer";
import { assertPass, statusLine, verifyAndRefund } from "../drive";
import { ROUTE, type Scenario } from "../harness";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const COMPLETION_MS = 3000;
const LATE_MS = 2000;

export const latePaidCell: Scenario = {
  n: "9e",
  title: "late paid cell: completion 3 s, paid cell run 2 s after paying (no HYPERSWITCH_URL)",
  async run({ w, delta }) {
    w.sb.setFaults({ completionDelayMs: COMPLETION_MS });
    const rb = w.open(w.newSession(), { AUTO_PAY: "", HYPERSWITCH_URL: "" });
    try {
      for (const r of [
        await rb.run("preflight"),
        await rb.run("login"),
        await rb.run("product"),
        await rb.run("order"),
      ])
        assert.equal(r.status, "PASS", r.reason);
      assert.equal(rb.hs, null, "no orchestrator in this session");
      const p = await rb.pay();
      const paidBy = await payHeadless(p.paymentUrl, "success", { browser: false });
      await sleep(LATE_MS); // the operator gets round to the paid cell late
      const four = await rb.confirmPaid({ last4: paidBy.last4, processor: paidBy.connector ?? "sandbox_card" });
      assert.equal(four.status, "PASS", four.reason);
      assert.equal(four.observed.time_source, "the order's paid_at");
      const results = await verifyAndRefund(rb);
      assertPass(results);
      const five = results[0];
      const [row] = await w.sql<{ paid_at: Date; completed_at: Date }>(
        "SELECT paid_at, completed_at FROM orders WHERE id = $1",
        [rb.order!.id],
      );
      const truth = Math.round((row.completed_at.getTime() - row.paid_at.getTime()) / 100) / 10;
      assert.equal(five.observed.seconds_to_completed, truth, "the backend's own interval");
      assert.ok(truth >= COMPLETION_MS / 1000 - 0.1, `the backend's interval ${truth} s covers the 3 s completion`);
      assert.equal(four.observed.transaction_time, row.paid_at.toISOString());
      const nine = results[4];
      assert.equal(typeof nine.observed.seconds_to_refunded, "number");
      assert.match(String(nine.observed.counted_from), /^the refund's created_at \(.+\) to the order's refunded_at/);
      const d = await delta();
      assert.deepEqual([d.orders, d.payments, d.refunds, d.licenses_active, d.seller_transfers], [1, 1, 1, 0, 1]);
      assert.equal(d.routes[ROUTE.orders], 1);
      assert.equal(d.routes[ROUTE.refund], 1);
      return {
        outcome: statusLine(rb),
        notes: `paid cell ${LATE_MS / 1000} s late; seconds-to-completed ${Number(five.observed.seconds_to_completed).toFixed(1)} s = the order's completed_at − paid_at (the paid cell would have said ~${(COMPLETION_MS - LATE_MS) / 1000} s)`,
      };
    } finally {
      await rb.close();
    }
  },
};
