// Issue 11: ordinary operator mistakes never leave evidence that says PASS when it is not. Kernel ■
// during the poll, the paid cell run before paying, a kernel restart followed by the later cells
// without the login cell, and a cell whose step cannot run in a headless notebook run.
import assert from "node:assert/strict";
import * as path from "node:path";
import { readTrace } from "../../../lib/evidence/chain";
import { TRACE_FILE } from "../../../lib/evidence/files";
import { readNotebook, sourceOf } from "../../../lib/host/nbfile";
import { interruptAll } from "../../../lib/run/session";
import type { Runbook } from "../../../lib/run/runbook";
import type { StepResult } from "../../../lib/types";
import { rehearse } from "../../../scripts/rehearse";
import { assertPass, payAndConfirm, statusLine, upToPaid, verifyAndRefund } from "../drive";
import { ROUTE, type Scenario } from "../harness";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const traceLines = (dir: string) => readTrace(path.join(dir, TRACE_FILE)).length;
const resultsOf = (_dir: string, rb: Runbook, n: number) =>
  rb.journal
    .all()
    .filter((e) => e.kind === "step_result" && (e.data as unknown as StepResult).step === n)
    .map((e) => (e.data as unknown as StepResult).status);

export const interruptDuringPoll: Scenario = {
  n: "9a",
  title: "Kernel ■ during step 5's poll, then the cell run again",
  async run({ w, delta }) {
    w.sb.setFaults({ completionDelayMs: 4000 });
    const rb = w.open(w.newSession());
    try {
      await upToPaid(rb);
      const polling = rb.run("completed");
      await sleep(1000);
      assert.deepEqual(interruptAll("interrupted by the operator (Kernel ■)"), [5]);
      const stopped = await polling;
      assert.equal(stopped.status, "INTERRUPTED", stopped.reason);
      const frozen = traceLines(rb.dir);
      await sleep(1000);
      assert.equal(traceLines(rb.dir), frozen, "nothing is written for the stopped run");
      const again = await rb.run("completed");
      assert.equal(again.status, "PASS", again.reason);
      const rest = [
        await rb.run("licence"),
        await rb.run("transfer"),
        await rb.run("refund"),
        await rb.run("refunded"),
      ];
      assertPass(rest);
      assert.deepEqual(resultsOf(rb.dir, rb, 5), ["INTERRUPTED", "PASS"]);
      const d = await delta();
      assert.deepEqual([d.orders, d.payments, d.refunds, d.routes[ROUTE.orders]], [1, 1, 1, 1]);
      return {
        outcome: `5 INTERRUPTED → re-run PASS; ${statusLine(rb)}`,
        notes: `trace frozen at L${frozen} after ■; one step-5 PASS, one order, one refund`,
      };
    } finally {
      await rb.close();
    }
  },
};

export const paidBeforePaying: Scenario = {
  n: "9b",
  title: "paid cell run before paying (orchestrator cross-check on)",
  async run({ w, delta }) {
    const rb = w.open(w.newSession(), { AUTO_PAY: "" });
    try {
      for (const r of [
        await rb.run("preflight"),
        await rb.run("login"),
        await rb.run("product"),
        await rb.run("order"),
      ])
        assert.equal(r.status, "PASS", r.reason);
      const early = await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
      assert.equal(early.status, "SKIPPED", early.reason);
      assert.match(early.reason ?? "", /^not paid yet \(orchestrator: requires_payment_method\)/);
      assert.equal(rb.moneyMoved, false);
      assert.equal((await rb.run("completed")).status, "SKIPPED");
      const paid = await payAndConfirm(rb);
      assert.equal(paid.status, "PASS", paid.reason);
      // The payment's own time: the orchestrator's, or the order's paid_at when the payment settled first.
      assert.match(String(paid.observed.time_source), /^the (orchestrator's payment time|order's paid_at)$/);
      assertPass(await verifyAndRefund(rb));
      assert.deepEqual(resultsOf(rb.dir, rb, 4), ["SKIPPED", "PASS"]);
      const d = await delta();
      assert.deepEqual([d.orders, d.payments, d.refunds, d.routes[ROUTE.orders]], [1, 1, 1, 1]);
      return {
        outcome: `4 SKIPPED (not paid yet) → PASS after paying; ${statusLine(rb)}`,
        notes:
          "no payment_confirmed before the payment; step 5 SKIPPED until then; seconds counted from the payment's own time (orchestrator or order paid_at)",
      };
    } finally {
      await rb.close();
    }
  },
};

export const restartWithoutLogin: Scenario = {
  n: "9c",
  title: "kernel restart, then steps 5–9 without re-running the login cell",
  async run({ w, delta }) {
    const id = w.newSession();
    const first = w.open(id);
    await upToPaid(first);
    await first.close(); // the kernel dies with its token
    const rb = w.open(id);
    try {
      assert.equal(rb.api.token, null);
      const results = await verifyAndRefund(rb);
      assertPass(results);
      const d = await delta();
      assert.deepEqual([d.orders, d.payments, d.refunds, d.routes[ROUTE.login]], [1, 1, 1, 2]);
      const notes = readTrace(path.join(rb.dir, TRACE_FILE)).filter(
        (e) => e.type === "note" && /logging in again once/.test(String((e.payload as { event?: string }).event)),
      );
      assert.equal(notes.length, 1, "one traced re-login");
      return {
        outcome: `5-9 PASS after restart; ${statusLine(rb)}`,
        notes: "one traced re-login (2 logins in all), no 401 that nothing sent",
      };
    } finally {
      await rb.close();
    }
  },
};

export const throwingCellHeadless: Scenario = {
  n: "9d",
  title: "a step that cannot run in a headless notebook run (no order: the pay cell)",
  timeoutMs: 240_000,
  async run({ w, delta }) {
    await w.freeSecond();
    // A price cap below the product: step 2 FAILs, 3 is SKIPPED, and the pay cell has no order.
    const r = await rehearse({ sandbox: w.sb, archiveDir: w.archive, params: { MAX_PRICE: "1.00" } });
    assert.equal(r.execute.code, 0);
    assert.deepEqual(r.execute.silent, [], "every cell produced output (none skipped by the kernel)");
    const nb = readNotebook(r.notebook);
    const code = nb.cells.filter((c) => c.cell_type === "code");
    const text = (c: (typeof code)[number]) => JSON.stringify(c.outputs ?? []);
    const pay = code.find((c) => sourceOf(c).includes("await nb.pay()"))!;
    assert.match(text(pay), /could not run/);
    const last = code.at(-1)!;
    assert.match(sourceOf(last), /nb\.report\(\)/);
    assert.match(text(last), /Outcome: ❌ FAIL/);
    assert.match(text(code.find((c) => sourceOf(c).includes("openNotebook"))!), /Outcome: FAIL/);
    const d = await delta();
    assert.deepEqual([d.orders, d.payments, d.refunds], [0, 0, 0]);
    return {
      outcome: `${[...Array(10).keys()].map((n) => `${n} ${r.statuses.get(n) ?? "not run"}`).join(" · ")}`,
      notes:
        "no silent cell; the pay cell shows its FAIL banner; the report ends the notebook; the top banner says FAIL",
    };
  },
};

export const operatorScenarios: Scenario[] = [
  interruptDuringPoll,
  paidBeforePaying,
  restartWithoutLogin,
  throwingCellHeadless,
];
