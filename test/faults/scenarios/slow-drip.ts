// Issue 14 §4: a body that never finishes, during step 5, through the real notebook. Every poll of
// the order gets its headers and then one byte a second. The call ends with the poll's deadline, the
// step with a FAIL at that deadline (not at the executor's cell timeout), the refund step still runs,
// and the executed notebook is saved complete.
import assert from "node:assert/strict";
import * as path from "node:path";
import { TRACE_FILE } from "../../../lib/evidence/files";
import { verifyChain } from "../../../lib/evidence/chain";
import { Journal, latestStepResults } from "../../../lib/evidence/journal";
import { rehearse } from "../../../scripts/rehearse";
import { faultyProxy, type Scenario } from "../harness";

const DEADLINE_S = 6;
const isOrderGet = (m: string, u: string) => m === "GET" && /^\/api\/v1\/orders\/[^/]+$/.test(u.split("?")[0]);

export const slowDripPoll: Scenario = {
  n: "14d",
  title: "slow-drip body during step 5 (and 9) through the real notebook",
  timeoutMs: 240_000,
  async run({ w, delta }) {
    let orderGets = 0;
    // Step 4 reads the order once for the pay link; every later read of it drips.
    const proxy = await faultyProxy(w.sb.marketplaceUrl, (m, u) =>
      isOrderGet(m, u) && ++orderGets > 1 ? "drip" : "pass",
    );
    try {
      await w.freeSecond();
      const t0 = performance.now();
      const r = await rehearse({
        sandbox: w.sb,
        archiveDir: w.archive,
        params: {
          BASE_URL: `${proxy.url}/api/v1`,
          POLL_DEADLINE_S: DEADLINE_S,
          REFUND_DEADLINE_S: DEADLINE_S,
        },
      });
      const s = (performance.now() - t0) / 1000;
      assert.equal(r.execute.code, 0, `executor: ${r.execute.failure} ${r.execute.stderr.slice(-400)}`);
      assert.deepEqual(r.execute.saved?.complete, true, "the notebook is saved, complete");
      const statuses = [...Array(10).keys()].map((n) => r.statuses.get(n) ?? "not run");
      assert.deepEqual(statuses, [
        "PASS",
        "PASS",
        "PASS",
        "PASS",
        "PASS",
        "FAIL",
        "SKIPPED",
        "SKIPPED",
        "PASS",
        "FAIL",
      ]);
      const five = latestStepResults(Journal.open(r.dir).all()).get("completed");
      assert.match(five?.reason ?? "", /order completed not reached within 6 s/);
      assert.ok((five?.durationMs ?? Infinity) < 20_000, `step 5 ended near its deadline (${five?.durationMs} ms)`);
      assert.ok(s < 180, `the whole run was not held by the drip (${s.toFixed(0)} s)`);
      assert.ok(proxy.acted.includes("drip"), `the polls met the dripping body: ${proxy.acted.join(",")}`);
      const chain = verifyChain(path.join(r.dir, TRACE_FILE));
      assert.ok(chain.ok, JSON.stringify(chain.firstBroken));
      const d = await delta();
      assert.deepEqual([d.orders, d.payments, d.refunds], [1, 1, 1], "one order, one payment, one refund");
      return {
        outcome: `0–4 PASS · 5 FAIL at ${((five?.durationMs ?? 0) / 1000).toFixed(1)} s (deadline ${DEADLINE_S} s) · 6–7 SKIPPED · 8 refund PASS · 9 FAIL at its deadline · notebook saved complete`,
      };
    } finally {
      await proxy.close();
    }
  },
};
