/**
 * A session's Idempotency-Keys are its own. The buyer account is shared by operators, and the same
 * session id can be created in another clone (or archive) in the same second: with keys derived from
 * the id alone, the second session was handed the first one's order (200, "resumed"), and its paid
 * cell then confirmed the first session's payment: a PASS for a card that was declined. The nonce
 * journaled at creation tells them apart; a journal from before the nonce keeps its old keys.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { startSandbox, type Sandbox } from "../../sandbox";
import { Journal } from "../../lib/evidence/journal";
import { Session } from "../../lib/run/session";
import { openStaging } from "./fixtures";

let sb: Sandbox;
before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(async () => sb?.stop());

test("two sessions with the same id in two archives: two orders, neither resumed from the other", async () => {
  const at = new Date();
  const archives = [0, 1].map(() => fs.mkdtempSync(path.join(os.tmpdir(), "session-keys-")));
  const ids = archives.map((a) => Session.create("staging", a, {}, at));
  assert.equal(ids[0], ids[1], "the same session id, as two clones would make it");
  const orders: string[] = [];
  for (const [i, archive] of archives.entries()) {
    const rb = openStaging(sb, archive, ids[i]);
    try {
      for (const r of [
        await rb.run("preflight"),
        await rb.run("login"),
        await rb.run("product"),
        await rb.run("order"),
      ])
        assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
      const three = Journal.open(rb.dir).last("order_created");
      assert.equal(three?.data.http_status, 201, "a new order, not one resumed from another session");
      assert.match(rb.orderKey, new RegExp(`^${ids[i]}:[0-9a-f]{16}:order$`));
      orders.push(rb.order!.id);
    } finally {
      await rb.close();
    }
  }
  assert.notEqual(orders[0], orders[1]);
});

test("a journal written before the nonce keeps its keys (a resumed session finds its own order)", () => {
  const archive = fs.mkdtempSync(path.join(os.tmpdir(), "session-keys-old-"));
  const id = Session.create("staging", archive);
  // Rewrite the first entry as an older tool wrote it: no nonce (an unchained journal, read-only).
  const file = path.join(archive, id, "state.jsonl");
  const first = JSON.parse(fs.readFileSync(file, "utf8").split("\n")[0]);
  delete first.data.nonce;
  delete first.prev;
  delete first.hash;
  fs.writeFileSync(file, `${JSON.stringify(first)}\n`);
  const rb = openStaging(sb, archive, id);
  try {
    assert.equal(rb.orderKey, `${id}:order`);
    assert.equal(rb.refundKey, `${id}:refund`);
  } finally {
    void rb.close();
  }
});
