/**
 * The "cannot start" banner says what the journal says about the money (lib/notebook/standing.ts).
 * A journal broken by an edit (a line whose hash no longer holds) refuses the session; what comes
 * after the broken line is not the record, so the banner must not read the lines before it as all
 * there is: "no payment is recorded" or "nothing was charged" would be false when a payment follows.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { Journal, newSessionId } from "../../lib/evidence/journal";
import { recorder } from "./recorder";
import { openNotebook } from "../../lib/notebook/ui";

const archive = fs.mkdtempSync(path.join(os.tmpdir(), "standing-broken-"));
const saved = process.env.OPERATOR_PASSWORD;
process.env.OPERATOR_PASSWORD = "not-used-the-session-never-opens"; // the notebook reads secrets from the environment
after(() => {
  if (saved === undefined) delete process.env.OPERATOR_PASSWORD;
  else process.env.OPERATOR_PASSWORD = saved;
  fs.rmSync(archive, { recursive: true, force: true });
});

test("a journal broken before its payment: the banner never says no payment or nothing charged", () => {
  const id = newSessionId("staging", new Date(Date.UTC(2026, 10, 26, 9)));
  const dir = path.join(archive, id);
  const j = Journal.create(dir, { sessionId: id, mode: "staging" });
  j.append("order_intent", { idempotency_key: `${id}:order`, product_id: "prd_1", total_minor: 500 });
  j.append("order_created", {
    order_id: "ord_1",
    payment_id: "pay_1",
    payment_url: "http://127.0.0.1:9/checkout",
    total_cents: 500,
    currency: "EUR",
    created_at: "2026-11-26T09:00:30.000Z",
    http_status: 201,
  });
  j.append("payment_confirmed", {
    at: "2026-11-26T09:01:00.000Z",
    last4: "4242",
    processor: "stripe",
    via: "operator",
  });
  // An edit by hand in the order's line (the kernel is gone): the chain breaks at line 3.
  const file = path.join(dir, "state.jsonl");
  fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace('"total_cents":500', '"total_cents":501'));
  const ui = recorder();
  openNotebook(
    {
      SESSION_ID: id,
      MODE: "staging",
      BASE_URL: "http://127.0.0.1:9",
      OPERATOR_EMAIL: "ops@example.com",
      ARCHIVE_DIR: archive,
    },
    ui.tslab,
  );
  const text = ui.text();
  assert.match(text, /line 3/, text);
  assert.doesNotMatch(text, /no payment is recorded|nothing was charged/, text);
  assert.match(text, /money may have moved/i, text);
});
