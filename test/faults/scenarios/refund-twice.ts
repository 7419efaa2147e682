// §7.4 The refund cell run twice: in the same kernel, then again after a kernel restart, then the
// refund request itself replayed with the session's Idempotency-Key (as a retry after a lost
// response would). One refund in the journal, one at the orchestrator.
import assert from "node:assert/strict";
import { paths, Refund } from "../../../lib/contract";
import { assertPass, journalCount, statusLine, upToPaid } from "../drive";
import { ROUTE, type Scenario } from "../harness";

export const refundTwice: Scenario = {
  n: "4",
  title: "refund cell run twice (and after a kernel restart)",
  async run({ w, delta }) {
    const id = w.newSession();
    const rb = w.open(id);
    try {
      await upToPaid(rb);
      assertPass([await rb.run("completed"), await rb.run("licence"), await rb.run("transfer")]);
      const first = await rb.run("refund");
      assert.equal(first.status, "PASS", first.reason);
      const refundId = String(first.observed.refund_id);
      assert.match(refundId, /^ref_/);

      const again = await rb.run("refund");
      assert.equal(again.status, "PASS", again.reason);
      assert.equal(again.observed.refund_id, refundId);
      assert.match(String(again.observed.resumed), new RegExp(`^resumed refund ${refundId} created at `));

      const restarted = w.open(id); // a restarted kernel: the journal is read afresh from disk
      const third = await restarted.run("refund");
      assert.equal(third.status, "PASS", third.reason);
      assert.equal(third.observed.refund_id, refundId);
      assert.ok(restarted.resumeSummary().some((l) => l.startsWith(`resumed refund ${refundId}`)));
      await restarted.close();

      // The server side of the guarantee: the same request with the same key is answered with the
      // same refund, never a second one (what a retry after a network error relies on).
      const replay = await rb.api.call({
        method: "POST",
        path: paths.refund(rb.order!.id),
        endpoint: "POST /orders/:id/refund",
        schema: Refund,
        auth: true,
        body: { reason: `payment E2E ${id}` },
        idempotencyKey: rb.refundKey,
      });
      assert.equal(replay.status, 200);
      assert.equal(replay.data.refund_id, refundId);

      assertPass([await rb.run("refunded")]);
      assert.equal(journalCount(rb, "refund_created"), 1);
      assert.equal(journalCount(rb, "refund_intent"), 1);
      const d = await delta();
      assert.deepEqual([d.orders, d.payments, d.refunds, d.licenses_active], [1, 1, 1, 0]);
      assert.equal(d.routes[ROUTE.refund], 2, "the runbook sent one refund request; the test replayed it once");
      const [row] = await w.sql<{ n: number }>("SELECT count(*)::int AS n FROM refunds WHERE order_id = $1", [
        rb.order!.id,
      ]);
      assert.equal(row.n, 1);
      return {
        outcome: `${statusLine(rb)}; step 8 run 3× (same kernel ×2, restarted kernel ×1)`,
        notes:
          'runs 2 and 3: "resumed refund … created at …", no request; a replayed POST with the session\'s key → 200, same refund_id; 1 refund_created in the journal',
      };
    } finally {
      await rb.close();
    }
  },
};
