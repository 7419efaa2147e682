/**
 * A journal rewritten on disk under an open session, re-chained so its hashes hold (a SKIPPED step
 * made PASS): the report cell must neither show nor publish it. It reads the folder from disk, so it
 * first asks the session whether the journal is still the one it wrote. Against the sandbox, through
 * the notebook's cell API (openNotebook with a recording tslab stand-in).
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { startSandbox, type Sandbox } from "../../sandbox";
import { Session } from "../../lib/run/session";
import { recorder } from "../notebook/recorder";
import { openNotebook } from "../../lib/notebook/ui";
import { rewriteChain } from "../evidence/tamper-table";

let sb: Sandbox;
let archive: string;
const saved = process.env.OPERATOR_PASSWORD;
before(async () => {
  sb = await startSandbox({ quiet: true });
  archive = fs.mkdtempSync(path.join(os.tmpdir(), "journal-edited-"));
  fs.copyFileSync(
    path.join(__dirname, "..", "..", "docs", "GO_NO_GO_CHECKLIST.md"),
    path.join(archive, "GO_NO_GO_CHECKLIST.md"),
  );
  process.env.OPERATOR_PASSWORD = sb.operator.password;
});
after(async () => {
  process.env.OPERATOR_PASSWORD = saved;
  await sb?.stop();
  fs.rmSync(archive, { recursive: true, force: true });
});

test("the report cell refuses a journal rewritten under the session: nothing shown as PASS, nothing published", async () => {
  const id = Session.create("staging", archive);
  const ui = recorder();
  const nb = openNotebook(
    {
      SESSION_ID: id,
      MODE: "staging",
      BASE_URL: sb.marketplaceUrl,
      OPERATOR_EMAIL: sb.operator.email,
      ARCHIVE_DIR: archive,
      DOCS_DIR: archive,
    },
    ui.tslab,
  );
  const rb = nb.rb!;
  await nb.run("preflight");
  await nb.run("completed"); // SKIPPED: nothing was ordered
  assert.equal(rb.results.get("completed")?.status, "SKIPPED");
  rewriteChain(path.join(rb.dir, "state.jsonl"), "state.jsonl", (es) => {
    const r = es.find((e) => e.kind === "step_result" && (e.data as { id: string }).id === "completed");
    assert.ok(r);
    const { reason: _reason, ...data } = r.data as Record<string, unknown>;
    r.data = { ...data, status: "PASS" };
  });
  await nb.report();
  assert.match(ui.text(), /changed while this session had it open/);
  assert.ok(!fs.existsSync(path.join(rb.dir, "report.md")), "no report.md written from the rewrite");
  const docs = path.join(archive, "PAYMENT_E2E_LIVE_REPORT.md");
  assert.ok(!fs.existsSync(docs) || !fs.readFileSync(docs, "utf8").includes(id), "no block published from the rewrite");
  await rb.close();
});
