// Issue 12: the orchestrator's status class decides steps 4 and 5. One scenario per class the
// sandbox double can produce today (named `hsStatus…` so the double's new knobs — refund failed or
// in review, other payment outcomes — can add theirs beside them):
//  12a. no money moved (a declined card: orchestrator `failed`): step 4 FAILs with "pay again in a
//       fresh session", nothing is confirmed, no refund is possible or needed;
//  12b. in flight (`processing` for good): step 5 waits to its deadline, then says escalate with the
//       payment reference (never "refund" and never "fine").
import assert from "node:assert/strict";
import { payHeadless } from "../../../lib/clients/payer";
import { statusLine } from "../drive";
import { ROUTE, type Scenario } from "../harness";

export const hsStatusNoMoney: Scenario = {
  n: "12a",
  title: "orchestrator says failed (declined card): step 4 FAIL, no money moved",
  async run({ w, delta }) {
    const rb = w.open(w.newSession(), { HYPERSWITCH_URL: w.sb.hyperswitchUrl });
    try {
      for (const r of [await rb.preflight(), await rb.login(), await rb.pickProduct(), await rb.createOrder()])
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
      for (const r of [await rb.preflight(), await rb.login(), await rb.pickProduct(), await rb.createOrder()])
        assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
      const url = (await rb.getOrder(rb.order!.id)).payment_url;
      const paid = await payHeadless(url, "success", { browser: false });
      const s4 = await rb.confirmPaid({ last4: paid.last4, processor: paid.connector ?? "stripe" });
      assert.equal(s4.status, "PASS", s4.reason);
      const s5 = await rb.pollCompleted();
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
