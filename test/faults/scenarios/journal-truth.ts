// Issue 22 §3–4: what the auditor reads agrees with what happened.
//  22a. refund before checks: on a paid order the refund cell does not act before steps 5–7 had their
//       chance (no refund request, no refund row); with the operator's written reason it acts, and
//       the reason is in the journal and the trace; after the checks passed it needs none.
//  22b. parameter change: MAX_PRICE raised after a passed pre-flight; every later cell is refused
//       naming the change (no order request, no row) until pre-flight runs again, which records the
//       change as an anomaly; the order then created is the one the new pin allows.
import assert from "node:assert/strict";
import * as path from "node:path";
import { readTrace } from "../../../lib/evidence/chain";
import { TRACE_FILE } from "../../../lib/evidence/files";
import type { Runbook } from "../../../lib/run/runbook";
import { assertPass, journalCount, statusLine, upToPaid } from "../drive";
import { ROUTE, type Scenario } from "../harness";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function untilCompleted(rb: Runbook): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await rb.getOrder(rb.order!.id)).status === "completed") return;
    await sleep(100);
  }
  throw new Error("the order never completed");
}

export const refundBeforeChecks: Scenario = {
  n: "22a",
  title: "refund before checks: waits for steps 5–7, acts only on a written reason",
  async run({ w, delta }) {
    const rb = w.open(w.newSession());
    const early = w.open(w.newSession());
    try {
      // A: the refund cell run right after paying waits, then the checks run and it acts unasked.
      await upToPaid(rb);
      const waiting = await rb.run("refund");
      assert.equal(waiting.status, "SKIPPED", waiting.reason);
      assert.match(waiting.reason ?? "", /^step 5 \(.*\) has not run yet: step 8 waits for steps 5, 6, 7/);
      let d = await delta();
      assert.deepEqual([d.orders, d.payments, d.refunds, d.routes[ROUTE.refund] ?? 0], [1, 1, 0, 0]);
      assert.equal(journalCount(rb, "refund_intent"), 0);
      assertPass([await rb.run("completed"), await rb.run("licence"), await rb.run("transfer")]);
      const r8 = await rb.run("refund");
      assertPass([r8, await rb.run("refunded")]);
      assert.equal(r8.observed.before_checks, undefined);

      // B: another session refunds before step 5 with the operator's reason, recorded as evidence.
      await upToPaid(early);
      await untilCompleted(early);
      const why = "card owner asked for the money back at once";
      const e8 = await early.run("refund", { reason: why });
      assert.equal(e8.status, "PASS", e8.reason);
      assert.match(String(e8.observed.before_checks), new RegExp(`^operator: ${why} \\(step 5 .* has not run yet\\)$`));
      const anomalies = readTrace(path.join(early.dir, TRACE_FILE)).filter(
        (e) => e.type === "anomaly" && (e.payload as { kind?: string }).kind === "operator",
      );
      assert.equal(anomalies.length, 1);
      assertPass([await early.run("refunded")]);
      d = await delta();
      assert.deepEqual([d.orders, d.payments, d.refunds, d.licenses_active, d.routes[ROUTE.refund]], [2, 2, 2, 0, 2]);
      return {
        outcome: `A: 8 SKIPPED before 5–7, then ${statusLine(rb)}; B: 8 PASS on a written reason`,
        notes: `A: no refund request while waiting (refunds +0); B: before_checks "operator: …" + one operator anomaly; 2 orders, 2 refunds in all`,
      };
    } finally {
      await rb.close();
      await early.close();
    }
  },
};

export const parameterChange: Scenario = {
  n: "22b",
  title: "parameter change: MAX_PRICE raised after pre-flight is refused until pre-flight re-pins it",
  async run({ w, delta }) {
    const id = w.newSession();
    const first = w.open(id);
    assertPass([await first.run("preflight")]);
    await first.close();
    const rb = w.open(id, { MAX_PRICE: "30.00" }); // the parameters cell edited and re-run
    try {
      const refused: string[] = [];
      for (const cell of [() => rb.run("login"), () => rb.run("product"), () => rb.run("order")])
        await assert.rejects(cell(), (e: Error) => {
          refused.push(e.message);
          return /^refused \(parameters\): MAX_PRICE 5\.00 → 30\.00 since the pre-flight of /.test(e.message);
        });
      let d = await delta();
      assert.deepEqual([d.orders, d.payments, d.routes[ROUTE.login] ?? 0, d.routes[ROUTE.orders] ?? 0], [0, 0, 0, 0]);
      assertPass([await rb.run("preflight")]);
      const said = readTrace(path.join(rb.dir, TRACE_FILE))
        .filter((e) => e.type === "anomaly")
        .map((e) => String((e.payload as { message?: string }).message));
      const changed = said.filter((m) => /MAX_PRICE 5\.00 → 30\.00 — pinned again/.test(m));
      assert.equal(changed.length, 1, "the change is recorded once, as an anomaly");
      const refusals = said.filter((m) => /refused, nothing sent: .*MAX_PRICE 5\.00 → 30\.00/.test(m));
      assert.equal(refusals.length, 3, "each refused cell is an anomaly too (the report lists it)");
      assertPass([await rb.run("login"), await rb.run("product"), await rb.run("order")]);
      assert.equal(rb.order!.totalMinor, 2400, "the order the new pin allows");
      d = await delta();
      assert.deepEqual([d.orders, d.refunds, d.routes[ROUTE.orders]], [1, 0, 1]);
      return {
        outcome: `3 cells refused, then pre-flight re-pinned; ${statusLine(rb)}`,
        notes: `refused: "${refused[0].slice(0, 60)}…"; the change is one anomaly and each of the 3 refusals another; order 24.00 EUR only after the re-pin`,
      };
    } finally {
      await rb.close();
    }
  },
};

export const journalTruthScenarios: Scenario[] = [refundBeforeChecks, parameterChange];
