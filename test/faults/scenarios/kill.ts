// §7.3 The kernel dies during step 5. A real process (test/faults/kernel.ts) opens the session,
// creates and pays the order, and is SIGKILLed while it polls an order the sandbox holds in
// `processing`. Then the whole notebook runs again on the same session, here in the test
// process (a fresh kernel): it must resume the same order, say so, and send no second POST.
import assert from "node:assert/strict";
import * as path from "node:path";
import { JOURNAL_FILE, TRACE_FILE } from "../../../lib/evidence/files";
import { Journal } from "../../../lib/evidence/journal";
import { verifyChain } from "../../../lib/evidence/chain";
import { assertPass, journalCount, statusLine, verifyAndRefund } from "../drive";
import { ROUTE, runKernelAndKill, type Scenario } from "../harness";

const KILL_AFTER_POLLS = 3;

export const killDuringPoll: Scenario = {
  n: "3",
  title: "kernel SIGKILLed during step 5, notebook run again",
  timeoutMs: 90_000,
  async run({ w, delta }) {
    // Long enough that the order is still processing when the kernel dies, short enough to finish.
    w.sb.setFaults({ completionDelayMs: 8000 });
    const id = w.newSession();
    const spec = w.spec(id, { POLL_DEADLINE_S: 60 });
    const killed = await runKernelAndKill(spec, { line: `poll ${KILL_AFTER_POLLS} processing` });
    assert.equal(
      killed.signal,
      "SIGKILL",
      `the kernel was not killed mid-poll (exit ${killed.code}): ${killed.lines.join(" / ")} ${killed.stderr}`,
    );
    assert.ok(killed.lines.includes(`poll ${KILL_AFTER_POLLS} processing`), killed.lines.join(" / "));
    const orderId = killed.lines.find((l) => l.startsWith("order "))?.slice(6);
    assert.match(orderId ?? "", /^ord_/);

    // What the dead kernel left: the order and the payment journaled, step 5 never finished.
    const dir = path.join(w.archive, id);
    const left = Journal.open(dir);
    assert.equal(left.last("order_created")?.data.order_id, orderId);
    assert.ok(left.last("payment_confirmed"));
    assert.ok(
      !left.all().some((e) => e.kind === "step_result" && e.data.step === 5),
      "step 5 finished before the kill",
    );
    const before = await delta();
    assert.deepEqual([before.orders, before.payments, before.routes[ROUTE.orders]], [1, 1, 1]);

    // A fresh kernel runs the whole notebook again on the same session.
    const rb = w.open(id, { POLL_DEADLINE_S: 60 });
    try {
      assert.ok(rb.resumed);
      assert.match(
        rb.resumeSummary()[0] ?? "",
        new RegExp(`^resumed order ${orderId} created at \\d{4}-\\d\\d-\\d\\dT`),
      );
      for (const step of [() => rb.run("preflight"), () => rb.run("login"), () => rb.run("product")])
        assert.equal((await step()).status, "PASS");
      const s3 = await rb.run("order");
      assert.equal(s3.status, "PASS", s3.reason);
      assert.equal(s3.observed.order_id, orderId);
      assert.match(
        String(s3.observed.resumed),
        new RegExp(`^resumed order ${orderId} created at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z$`),
      );
      const pay = await rb.pay();
      assert.match(pay.note, /already paid and confirmed/);
      const s4 = await rb.confirmPaid();
      assert.equal(s4.status, "PASS", s4.reason);
      assert.match(String(s4.observed.resumed), /^confirmed earlier at /);
      assertPass(await verifyAndRefund(rb));

      assert.equal(journalCount(rb, "order_created"), 1);
      assert.equal(journalCount(rb, "order_intent"), 1);
      const chain = verifyChain(path.join(rb.dir, TRACE_FILE));
      assert.ok(chain.ok, `trace chain broken after the kill: ${JSON.stringify(chain.firstBroken)}`);
      assert.ok(Journal.open(dir).all().length > left.all().length);
      const d = await delta();
      // 0 extra orders or payments: everything in the DB is the dead kernel's one order.
      assert.deepEqual([d.orders, d.payments, d.refunds, d.routes[ROUTE.orders]], [1, 1, 1, 1]);
      const polls = killed.lines.filter((l) => l.startsWith("poll ")).length;
      return {
        outcome: `killed after ${polls} polls; re-run: ${statusLine(rb)}`,
        notes: `"resumed order … created at …"; 0 extra POST /orders after the kill; trace chain ok; ${JOURNAL_FILE} kept one order_created`,
      };
    } finally {
      await rb.close();
    }
  },
};
