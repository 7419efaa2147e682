// §7.6 Schema drift: GET /orders/:id renames `status` to `state` once the payment is in. Step 5
// must FAIL at once with an error naming the endpoint and the field, recorded as a `schema`
// anomaly in the trace; later cells must say SKIPPED (never show `undefined`). When the backend is
// fixed, re-running step 5 resumes and the run completes on the same order.
import assert from "node:assert/strict";
import * as path from "node:path";
import { TRACE_FILE } from "../../../lib/evidence/files";
import { readTrace } from "../../../lib/evidence/chain";
import { assertNoUndefined, assertPass, statusLine, upToPaid, verifyAndRefund } from "../drive";
import { ROUTE, type Scenario } from "../harness";

export const schemaDrift: Scenario = {
  n: "6",
  title: "schema drift: GET /orders/:id says `state`, not `status`",
  async run({ w, delta }) {
    const rb = w.open(w.newSession(), { POLL_DEADLINE_S: 20 });
    try {
      await upToPaid(rb);
      w.sb.setFaults({ schemaDrift: true });
      const t0 = performance.now();
      const s5 = await rb.run("completed");
      const seconds = (performance.now() - t0) / 1000;
      assert.equal(s5.status, "FAIL");
      assert.match(s5.reason ?? "", /GET \/orders\/:id/, "the error names the endpoint");
      assert.match(s5.reason ?? "", /`status`/, "the error names the field");
      assert.match(s5.reason ?? "", /expected one of "pending"\|"processing"/, "the error says what was expected");
      assert.ok(seconds < 5, `a schema mismatch is not worth waiting for the deadline (took ${seconds.toFixed(1)} s)`);
      const schema = rb.anomalies.filter((a) => a.kind === "schema");
      assert.ok(
        schema.length >= 1 &&
          schema.every((a) => a.step === 5 && /GET \/orders\/:id/.test(a.message) && /status/.test(a.message)),
        JSON.stringify(rb.anomalies),
      );
      const traced = readTrace(path.join(rb.dir, TRACE_FILE)).filter(
        (e) => e.type === "anomaly" && (e.payload as { kind?: string }).kind === "schema",
      );
      assert.equal(traced.length, schema.length);

      const [s6, s7] = [await rb.run("licence"), await rb.run("transfer")];
      for (const r of [s6, s7]) assert.equal(r.status, "SKIPPED", `step ${r.step}: ${r.reason}`);
      assertNoUndefined(rb);

      // The backend is fixed; the operator re-runs step 5 and carries on with the same order.
      w.sb.setFaults({ schemaDrift: false });
      assertPass(await verifyAndRefund(rb));
      assertNoUndefined(rb);
      const d = await delta();
      assert.deepEqual([d.orders, d.payments, d.refunds, d.routes[ROUTE.orders]], [1, 1, 1, 1]);
      return {
        outcome: `step 5 FAIL in ${seconds.toFixed(1)} s, 6-7 SKIPPED; after the fix: ${statusLine(rb)}`,
        notes: `"${(s5.reason ?? "").replace(/ \(see docs.*$/, "")}"; ${schema.length} schema anomaly in the trace`,
      };
    } finally {
      await rb.close();
    }
  },
};
