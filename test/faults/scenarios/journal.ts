// Issue 13: the journal torn mid-write. A real kernel process (test/faults/kernel.ts) creates and
// pays the order and is SIGKILLed while it polls step 5; its last journal write is left torn (the
// bytes a kill inside write(2) leaves: a line without its newline). The whole notebook then runs
// again on the same session: the torn bytes are set aside in state.quarantine.jsonl, a
// journal_repaired entry and a trace anomaly record it, nothing journaled before the tear is lost,
// the entries written after it are not swallowed, the order and the refund are made once, the
// report shows the anomaly, and the sealed folder verifies.
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { JOURNAL_FILE, JOURNAL_QUARANTINE_FILE, TRACE_FILE } from "../../../lib/evidence/files";
import { Journal, readJournalFile } from "../../../lib/evidence/journal";
import { readTrace } from "../../../lib/evidence/chain";
import { formatVerify, verifySession } from "../../../lib/evidence/verify";
import { archiveSession } from "../../../lib/host/archive";
import { loadEvidence } from "../../../lib/report/evidence";
import { assertPass, journalCount, statusLine, verifyAndRefund } from "../drive";
import { ROUTE, runKernelAndKill, type Scenario } from "../harness";

export const journalTorn: Scenario = {
  n: "3j",
  title: "journal torn mid-write by a killed kernel, notebook run again",
  timeoutMs: 120_000,
  async run({ w, delta }) {
    w.sb.setFaults({ completionDelayMs: 8000 });
    const id = w.newSession();
    const killed = await runKernelAndKill(w.spec(id, { POLL_DEADLINE_S: 60 }), { line: "poll 2 processing" });
    assert.equal(killed.signal, "SIGKILL", `the kernel was not killed (exit ${killed.code}): ${killed.stderr}`);
    const orderId = killed.lines.find((l) => l.startsWith("order "))?.slice(6);
    assert.match(orderId ?? "", /^ord_/);

    // The write the kill cut short: the start of the next entry, without its newline.
    const dir = path.join(w.archive, id);
    const file = path.join(dir, JOURNAL_FILE);
    const left = Journal.open(dir).all();
    const torn = `{"seq":${left.length + 1},"at":"${new Date().toISOString()}","kind":"step_result","data":{"durationMs":`;
    fs.appendFileSync(file, torn);
    assert.equal(readJournalFile(file).torn?.bytes, Buffer.byteLength(torn));
    assert.equal(Journal.open(dir).all().length, left.length, "a torn tail is readable: the entries before it");

    const rb = w.open(id, { POLL_DEADLINE_S: 60 });
    try {
      assert.ok(rb.resumed);
      for (const step of [() => rb.run("preflight"), () => rb.run("login"), () => rb.run("product")])
        assert.equal((await step()).status, "PASS");
      const s3 = await rb.run("order");
      assert.equal(s3.status, "PASS", s3.reason);
      assert.equal(s3.observed.order_id, orderId, "the re-run resumed the journaled order");
      await rb.pay();
      const s4 = await rb.confirmPaid();
      assert.equal(s4.status, "PASS", s4.reason);
      assertPass(await verifyAndRefund(rb));
      assert.equal(journalCount(rb, "order_created"), 1);
      assert.equal(journalCount(rb, "refund_created"), 1);
    } finally {
      await rb.close();
    }

    // Nothing lost, nothing swallowed: the entries before the tear, then the repair, then the re-run's.
    const after = Journal.open(dir).all();
    assert.deepEqual(after.slice(0, left.length), left);
    assert.equal(after[left.length]?.kind, "journal_repaired");
    assert.ok(after.length > left.length + 5, "the re-run's entries are all there");
    assert.ok(readJournalFile(file).ok, "the journal's chain holds");
    const sha = crypto.createHash("sha256").update(torn).digest("hex");
    const quarantined = fs
      .readFileSync(path.join(dir, JOURNAL_QUARANTINE_FILE), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { bytes: number; sha256: string });
    assert.deepEqual(
      quarantined.map((q) => [q.bytes, q.sha256]),
      [[Buffer.byteLength(torn), sha]],
    );
    const anomaly = readTrace(path.join(dir, TRACE_FILE)).find(
      (e) => e.type === "anomaly" && /torn write/.test(String((e.payload as { message?: string }).message)),
    );
    assert.ok(anomaly, "the repair is an anomaly in the trace");
    const reported = loadEvidence(dir).anomalies;
    assert.ok(
      reported.some((a) => a.traceLine === anomaly.seq && a.message.includes(sha)),
      // Seen once in CI (PGlite), not reproduced in 6 runs: what the report held, to tell why next time.
      `and in the report: trace L${anomaly.seq} ${JSON.stringify(anomaly.payload)}; the report's anomalies: ${JSON.stringify(reported.map((a) => [a.traceLine, a.message.slice(0, 120)]))}`,
    );

    const archived = await archiveSession(dir, { html: false, docsDir: fs.mkdtempSync(path.join(w.archive, "docs-")) });
    const v = verifySession(dir);
    assert.ok(v.ok, formatVerify(v).join("\n"));
    // The seal adds one entry, the outcome report.md states (outcome_stated), as the journal's last.
    const sealed = Journal.open(dir).all();
    assert.deepEqual(sealed.slice(0, after.length), after);
    assert.deepEqual(
      sealed.slice(after.length).map((e) => [e.kind, (e.data as { by?: string }).by]),
      [["outcome_stated", "seal"]],
    );
    assert.equal(archived.manifest.journal_lines, sealed.length);

    const d = await delta();
    assert.deepEqual([d.orders, d.payments, d.refunds, d.routes[ROUTE.orders]], [1, 1, 1, 1]);
    return {
      outcome: `killed after order ${orderId} was paid, journal torn; re-run: ${statusLine(rb)}`,
      notes: `${Buffer.byteLength(torn)} torn bytes quarantined, journal_repaired at line ${left.length + 1}, anomaly in trace and report; 0 extra POST /orders; sealed, verify OK`,
    };
  },
};
