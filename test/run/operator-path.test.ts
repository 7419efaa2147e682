/**
 * The path a person takes on staging or live, driven through lib/ against the sandbox: they pay
 * in their browser and type what they saw; without a DSN they run the SQL step 7 shows in psql
 * and paste its output. A full card number typed by mistake is refused and never written.
 */
import { strict as assert } from "node:assert";
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { startSandbox, type Sandbox } from "../../sandbox";
import { payHeadless } from "../../lib/clients/payer";
import type { Runbook } from "../../lib/run/runbook";
import { openStaging } from "./fixtures";
import { Session } from "../../lib/run/session";
import { reconcile } from "../../lib/run/ledger";
import { loadEvidence } from "../../lib/report/evidence";
import { actionItems } from "../../lib/report/verdict";

let sb: Sandbox;
let rb: Runbook;
let archive: string;

before(async () => {
  sb = await startSandbox({ quiet: true, faults: { completionDelayMs: 100, refundDelayMs: 100 } });
  archive = fs.mkdtempSync(path.join(os.tmpdir(), "operator-"));
  const id = Session.create("staging", archive);
  rb = openStaging(sb, archive, id);
});
after(async () => {
  await rb?.close();
  await sb?.stop();
});

test("steps 0–3 pass; pay() hands the operator the live link instead of paying", async () => {
  for (const r of [await rb.run("preflight"), await rb.run("login"), await rb.run("product"), await rb.run("order")])
    assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
  const p = await rb.pay();
  assert.equal(p.auto, null, "no AUTO_PAY: a person pays");
  assert.match(p.paymentUrl, /\/checkout\/pay_\w+\?client_secret=\w+/);
  assert.equal(p.amount, "5.00 EUR");
});

test("a full card number typed into the paid cell is refused and never written", async () => {
  const p = await rb.pay();
  const paid = await payHeadless(p.paymentUrl, "success", { browser: false });
  const pan = ["4242", "4242", "4242", "4242"].join("");
  const r = await rb.confirmPaid({ last4: pan, processor: "stripe" });
  assert.equal(r.status, "FAIL");
  assert.match(r.reason!, /CARD_LAST4: enter exactly the last 4 digits of the card you paid with \(never more\)/);
  for (const f of ["trace.jsonl", "state.jsonl"])
    assert.ok(!fs.readFileSync(path.join(rb.dir, f), "utf8").includes(pan), `${f} holds no PAN`);
  // The paid cell passes on evidence only: here (no HYPERSWITCH_URL) the order having left pending.
  for (let i = 0; i < 50 && (await rb.getOrder(rb.order!.id)).status === "pending"; i++)
    await new Promise((r) => setTimeout(r, 100));
  const ok = await rb.confirmPaid({ last4: paid.last4, processor: paid.connector ?? "sandbox_card" });
  assert.equal(ok.status, "PASS", ok.reason);
  assert.equal(ok.observed.card_last4, "4242");
});

const hasPsql = spawnSync("psql", ["--version"]).status === 0;

function run(cmd: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 20 * 1000 }, (err, stdout, stderr) =>
      resolve({ status: err ? (typeof err.code === "number" ? err.code : null) : 0, stdout, stderr }),
    );
    child.on("error", () => undefined);
  });
}

test("without DATABASE_URL step 7 shows the SQL; psql's pasted output completes it", {
  skip: hasPsql ? false : "psql is not installed (apt-get install postgresql-client)",
}, async () => {
  assert.equal((await rb.run("completed")).status, "PASS");
  assert.equal((await rb.run("licence")).status, "PASS");
  const skipped = await rb.run("transfer");
  assert.equal(skipped.status, "SKIPPED");
  const sql = /psql -c "([^"]+)"/.exec(skipped.reason!)?.[1];
  assert.ok(sql, skipped.reason);
  // The operator runs it with real psql against the read-only DSN.
  // Asynchronously: the sandbox's database is served from this very process.
  const psql = await run("psql", [sb.readonlyDsn, "-c", sql!]);
  assert.equal(psql.status, 0, psql.stderr);
  // Review 4: psql's expanded output (\x) is compared with the order's split too.
  const expanded = await run("psql", [sb.readonlyDsn, "-x", "-c", sql!]);
  assert.equal(expanded.status, 0, expanded.stderr);
  const viaX = await rb.pasteTransfer(expanded.stdout);
  assert.equal(viaX.status, "PASS", viaX.reason);
  assert.ok(viaX.observed.expected_amount, JSON.stringify(viaX.observed));
  assert.doesNotMatch(String(viaX.observed.split), /not reconciled/);
  // Step 7 passed (final): the aligned paste below is kept as recorded.
  const pasted = await rb.pasteTransfer(psql.stdout);
  assert.equal(pasted.status, "PASS", pasted.reason);
  assert.match(String(pasted.observed.stripe_transfer_id), /^tr_/);
  assert.equal(pasted.observed.status, "paid");
  assert.equal((await rb.run("refund")).status, "PASS");
  const s9 = await rb.run("refunded");
  assert.equal(s9.status, "PASS", s9.reason);
  // Without DATABASE_URL step 9 cannot read the transfer's reversal: the table says so and is not
  // balanced (a GO must not rest on a payout nobody checked), and an action item says what to do.
  assert.match(String(s9.observed.transfer_reversal), /^not checked: no DATABASE_URL/);
  const rec = reconcile(rb.journal.all());
  const reversal = rec.rows.find((r) => r.what === "reversal")!;
  assert.equal(reversal.ok, false);
  assert.match(reversal.verdict, /^NOT CHECKED: no DATABASE_URL/);
  assert.equal(rec.balanced, false, rec.summary);
  const items = actionItems(loadEvidence(rb.dir));
  assert.ok(
    items.some((i) =>
      /^\*\*Seller transfer reversal not checked\*\* for ord_\S+: no DATABASE_URL.* — run `psql -c "BEGIN READ ONLY; SELECT /.test(
        i,
      ),
    ),
    items.join("\n"),
  );
});
