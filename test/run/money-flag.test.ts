/**
 * Issue 14 §8: once the payment shows, the record says money moved whatever the paid cell is
 * given. A full card number typed after paying is refused and never written, yet the journal
 * records the payment (payment_uncertain), the session says money moved and the refund step runs.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { startSandbox, type Sandbox } from "../../sandbox";
import { payHeadless } from "../../lib/clients/payer";
import { Journal } from "../../lib/evidence/journal";
import { moneyMoved } from "../../lib/run/ledger";
import type { Runbook } from "../../lib/run/runbook";
import { openStaging } from "./fixtures";
import { Session } from "../../lib/run/session";

let sb: Sandbox;
let rb: Runbook;

before(async () => {
  sb = await startSandbox({ quiet: true, faults: { completionDelayMs: 100, refundDelayMs: 100 } });
  const archive = fs.mkdtempSync(path.join(os.tmpdir(), "money-flag-"));
  const id = Session.create("staging", archive);
  rb = openStaging(sb, archive, id);
});
after(async () => {
  await rb?.close();
  await sb?.stop();
});

test("a full card number typed after paying: refused, never written, but money moved and the refund runs", async () => {
  for (const r of [await rb.run("preflight"), await rb.run("login"), await rb.run("product"), await rb.run("order")])
    assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
  const p = await rb.pay();
  await payHeadless(p.paymentUrl, "success", { browser: false });
  for (let i = 0; i < 50 && (await rb.getOrder(rb.order!.id)).status === "pending"; i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.notEqual((await rb.getOrder(rb.order!.id)).status, "pending", "the sandbox completed the payment");

  const pan = ["4242", "4242", "4242", "4242"].join("");
  const r = await rb.confirmPaid({ last4: pan, processor: "stripe" });
  assert.equal(r.status, "FAIL");
  assert.match(
    r.reason!,
    /CARD_LAST4: enter exactly the last 4 digits .*the payment itself went through \((?:order|orchestrator:) [a-z_]+\): money moved/,
  );
  for (const f of ["trace.jsonl", "state.jsonl"])
    assert.ok(!fs.readFileSync(path.join(rb.dir, f), "utf8").includes(pan), `${f} holds no PAN`);
  const entries = Journal.open(rb.dir).all();
  assert.equal(entries.filter((e) => e.kind === "payment_uncertain").length, 1);
  assert.equal(entries.filter((e) => e.kind === "payment_confirmed").length, 0, "not a confirmation");
  assert.ok(moneyMoved(entries), "the journal says money moved");
  assert.ok(rb.moneyOutstanding, "the money-moved banner follows moneyOutstanding");

  // The refund is not blocked by the refused confirmation; steps 5–7 never ran, so it takes a reason (issue 22 §3).
  const waiting = await rb.run("refund");
  assert.equal(waiting.status, "SKIPPED");
  assert.match(waiting.reason ?? "", /step 8 waits for steps 5, 6, 7, .*reason/);
  const refund = await rb.run("refund", { reason: "the confirmation was refused; refunding the payment" });
  assert.equal(refund.status, "PASS", refund.reason);
  const again = await rb.confirmPaid({ last4: pan });
  assert.equal(
    Journal.open(rb.dir)
      .all()
      .filter((e) => e.kind === "payment_uncertain").length,
    1,
    "recorded once",
  );
  assert.equal(again.status, "FAIL");
});
