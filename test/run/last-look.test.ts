/**
 * The record never says no money moved when it did: an order whose pay link was shown but whose
 * payment step 4 never confirmed (paid after its last check, the cell never re-run) is looked at once
 * more by the report cell (`lastLook`). Paid → money moved, the refund stays available and the
 * verdict says so; unpaid → "before money moved" with what was seen and when; never looked at
 * (a report rendered later by the CLI) or a failed look → no such claim, and an action item.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { startSandbox, type Sandbox } from "../../sandbox";
import { payHeadless } from "../../lib/clients/payer";
import { Journal } from "../../lib/evidence/journal";
import { loadEvidence } from "../../lib/report/evidence";
import { actionItems, deriveOutcome } from "../../lib/report/verdict";
import type { Runbook } from "../../lib/run/runbook";
import { openWithoutOrchestrator } from "./fixtures";

let sb: Sandbox;
const archive = fs.mkdtempSync(path.join(os.tmpdir(), "last-look-"));
const opened: Runbook[] = [];

before(async () => {
  sb = await startSandbox({ quiet: true, faults: { completionDelayMs: 100, refundDelayMs: 100 } });
});
after(async () => {
  for (const rb of opened) await rb.close();
  await sb?.stop();
});

/** Steps 0–3 PASS: an order exists and its pay link has been shown. */
async function orderCreated(): Promise<Runbook> {
  // The marketplace's order as the last look's only view: a sandbox run without the orchestrator.
  const rb = openWithoutOrchestrator(sb, archive);
  opened.push(rb);
  for (const r of [await rb.run("preflight"), await rb.run("login"), await rb.run("product"), await rb.run("order")])
    assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
  await rb.pay();
  return rb;
}

test("paid after step 4's last check, never confirmed: the last look records money moved and the refund runs", async () => {
  const rb = await orderCreated();
  const early = await rb.confirmPaid({ last4: "4242", processor: "stripe" });
  assert.equal(early.status, "SKIPPED", "the paid cell ran before paying");
  const p = await rb.pay();
  await payHeadless(p.paymentUrl, "success", { browser: false });
  for (let i = 0; i < 50 && (await rb.getOrder(rb.order!.id)).status === "pending"; i++)
    await new Promise((r) => setTimeout(r, 100));
  // Without the last look the record would say "before money moved".
  assert.match(deriveOutcome(loadEvidence(rb.dir)).reason, /no payment is recorded/);
  const seen = await rb.lastLook();
  assert.match(seen ?? "", /order (processing|completed)/);
  const ev = loadEvidence(rb.dir);
  assert.equal(ev.moneyMoved, true);
  const v = deriveOutcome(ev);
  assert.doesNotMatch(v.reason, /before money moved/);
  assert.match(v.reason, /money moved/);
  assert.ok(
    actionItems(ev).some((a) => a.startsWith("**Refund now**")),
    actionItems(ev).join("\n"),
  );
  // Steps 5–7 never ran on this payment: the refund waits for them unless the operator says why (issue 22 §3).
  assert.match((await rb.run("refund")).reason ?? "", /step 8 waits for steps 5, 6, 7/);
  const refund = await rb.run("refund", { reason: "paid after the paid cell ran; giving the money back" });
  assert.equal(refund.status, "PASS", `the refund step is available: ${refund.reason}`);
  assert.equal(await rb.lastLook(), null, "money moved is recorded: nothing more to check");
});

test("never paid: the last look says so, with what it saw and when", async () => {
  const rb = await orderCreated();
  const seen = await rb.lastLook();
  assert.equal(seen, "order pending");
  const ev = loadEvidence(rb.dir);
  assert.equal(ev.moneyMoved, false);
  const v = deriveOutcome(ev);
  assert.equal(v.outcome, "FAIL");
  assert.match(
    v.reason,
    new RegExp(`before money moved \\(order ${rb.order!.id} unpaid at the last look, \\S+Z: order pending\\)`),
  );
  assert.ok(!actionItems(ev).some((a) => a.includes("Check the payment")));
});

test("never looked at again, or the look failed: no 'before money moved', and an action item to check", async () => {
  const rb = await orderCreated();
  let ev = loadEvidence(rb.dir);
  let v = deriveOutcome(ev);
  assert.doesNotMatch(v.reason, /before money moved/);
  assert.match(
    v.reason,
    new RegExp(
      `no payment is recorded for order ${rb.order!.id}, but its pay link was shown and it was not checked again: if it was paid, money moved`,
    ),
  );
  assert.ok(actionItems(ev).some((a) => a.startsWith("**Check the payment**")));
  const j = Journal.open(rb.dir);
  j.append("payment_checked", {
    at: new Date().toISOString(),
    order_id: rb.order!.id,
    seen: null,
    paid: null,
    error: "HTTP 503",
  });
  ev = loadEvidence(rb.dir);
  v = deriveOutcome(ev);
  assert.match(v.reason, /the last look failed \(HTTP 503\)/);
  assert.doesNotMatch(v.reason, /before money moved/);
});
