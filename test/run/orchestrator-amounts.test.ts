/**
 * An amount is checked against the orchestrator, never assumed (lib/run/guards.ts
 * orchestratorConfigured, lib/report/orchestrator-check.ts). Against the sandbox (PGlite, or
 * PostgreSQL with TEST_PG_URL) and its orchestrator double, headless, the orchestrator read through
 * the fault harness's proxy: pre-flight refuses a staging run without HYPERSWITCH_URL and its key
 * (no order, nothing journaled as a payment); a staging run whose payment, or whose refunds, the
 * orchestrator could not be read for is never PASS, its reason naming what was not compared.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { startSandbox, type Sandbox } from "../../sandbox";
import { uniqueReadonlyRole } from "../../sandbox/db";
import { readJournalFile } from "../../lib/evidence/journal";
import { JOURNAL_FILE } from "../../lib/evidence/files";
import { loadEvidence } from "../../lib/report/evidence";
import { actionItems, deriveOutcome } from "../../lib/report/verdict";
import { notComparedAtOrchestrator, orchestratorWhy } from "../../lib/report/orchestrator-check";
import type { Evidence } from "../../lib/report/evidence";
import type { OrchestratorReads } from "../../lib/report/orchestrator-check";
import { reconcile } from "../../lib/run/ledger";
import type { Runbook } from "../../lib/run/runbook";
import { Session } from "../../lib/run/session";
import { faultyProxy, type ProxyAction } from "../faults/harness";
import { payAndConfirm } from "../faults/drive";
import { openStaging } from "./fixtures";

describe("amounts compared at the orchestrator, never assumed", () => {
  let sb: Sandbox;
  let hsProxy: Awaited<ReturnType<typeof faultyProxy>>;
  /** Which orchestrator reads answer 404 (not found): "payments", "refunds" or none. */
  let unreadable: "payments" | "refunds" | null = null;
  const dirs: string[] = [];
  const open: Runbook[] = [];
  before(async () => {
    sb = await startSandbox({
      quiet: true,
      databaseUrl: process.env.TEST_PG_URL,
      readonlyRole: uniqueReadonlyRole(),
      faults: { completionDelayMs: 100, refundDelayMs: 100 },
    });
    hsProxy = await faultyProxy(sb.hyperswitchUrl, (method, url): ProxyAction => {
      const gone = unreadable && method === "GET" && url.split("?")[0].includes(`/${unreadable}/`);
      return gone ? { answer: 404, json: { error: { type: "invalid_request", message: "not found" } } } : "pass";
    });
  });
  after(async () => {
    while (open.length) await open.pop()!.close();
    await hsProxy?.close();
    await sb?.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  const session = (
    extra: Record<string, unknown>,
    env: Record<string, string> = {},
    mode: "staging" | "sandbox" = "staging",
  ) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hs-amounts-"));
    dirs.push(dir);
    const rb = openStaging(
      sb,
      dir,
      Session.create(mode, dir),
      { POLL_DEADLINE_S: 20, REFUND_DEADLINE_S: 20, ...extra },
      { DATABASE_URL: sb.readonlyDsn, ...env },
    );
    open.push(rb);
    return rb;
  };

  async function wholeRun(rb: Runbook): Promise<void> {
    for (const id of ["preflight", "login", "product", "order"]) {
      const r = await rb.run(id);
      assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
    }
    const paid = await payAndConfirm(rb);
    assert.equal(paid.status, "PASS", paid.reason);
    for (const id of ["completed", "licence", "transfer", "refund", "refunded"]) {
      const r = await rb.run(id);
      assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
    }
  }

  for (const [missing, extra, env] of [
    ["HYPERSWITCH_URL and HYPERSWITCH_API_KEY", { HYPERSWITCH_URL: "" }, { HYPERSWITCH_API_KEY: "" }],
    ["HYPERSWITCH_API_KEY", {}, { HYPERSWITCH_API_KEY: "" }],
    ["HYPERSWITCH_URL", { HYPERSWITCH_URL: "" }, {}],
  ] as const)
    test(`pre-flight refuses a staging run without ${missing}: one line naming the fix, no order, nothing paid`, async () => {
      const rb = session(extra, env);
      const pre = await rb.run("preflight");
      assert.equal(pre.status, "FAIL");
      assert.match(
        pre.reason ?? "",
        new RegExp(
          `^refused \\(orchestrator\\): MODE=staging needs ${missing}: without the orchestrator's view the amount charged, captured and refunded would be assumed .* — set HYPERSWITCH_URL to the orchestrator's origin .* and export HYPERSWITCH_API_KEY \\(snd_…\\)$`,
        ),
      );
      assert.doesNotMatch(pre.reason ?? "", /\n/);
      const order = await rb.run("order");
      assert.notEqual(order.status, "PASS");
      const kinds = readJournalFile(path.join(rb.dir, JOURNAL_FILE)).entries.map((e) => e.kind);
      for (const k of ["order_intent", "order_created", "payment_confirmed", "payment_uncertain"] as const)
        assert.ok(!kinds.includes(k), `${k} journaled after a refused pre-flight`);
    });

  test("a sandbox run keeps the orchestrator optional", async () => {
    const rb = session({ HYPERSWITCH_URL: "", MODE: "sandbox" }, { HYPERSWITCH_API_KEY: "" }, "sandbox");
    const pre = await rb.run("preflight");
    assert.equal(pre.status, "PASS", pre.reason);
  });

  test("the orchestrator could not read the payment: every step PASS, the outcome PARTIAL naming the captured amount", async () => {
    unreadable = "payments";
    try {
      const rb = session({ HYPERSWITCH_URL: hsProxy.url }, { HYPERSWITCH_API_KEY: sb.apiKey });
      await wholeRun(rb);
      const ev = loadEvidence(rb.dir);
      const v = deriveOutcome(ev);
      assert.equal(v.outcome, "PARTIAL", v.reason);
      assert.match(
        v.reason,
        /^money moved; open: amounts — the captured amount \(payment amount_received\) not compared at the orchestrator \(the orchestrator \(http:\/\/127\.0\.0\.1:\d+\) answered 404 \(GET \/payments\/:id, trace L\d+; \d+ reads failed\)\), only the marketplace's word — check payment pay_\S+ and refund \S+ in the Hyperswitch dashboard; next run: check that HYPERSWITCH_URL is the API origin of the orchestrator that took this payment$/,
      );
      assert.doesNotMatch(v.reason, /HYPERSWITCH_API_KEY/, "both were set: the key is not what failed");
      assert.ok(
        actionItems(ev).some((a) =>
          /^\*\*Amounts not checked at the orchestrator\*\* for ord_\S+: the captured amount/.test(a),
        ),
        actionItems(ev).join("\n"),
      );
    } finally {
      unreadable = null;
    }
  });

  test("the orchestrator could not read the refunds: the refunded row NOT CHECKED, the outcome PARTIAL naming the refunded amount", async () => {
    unreadable = "refunds";
    try {
      const rb = session({ HYPERSWITCH_URL: hsProxy.url }, { HYPERSWITCH_API_KEY: sb.apiKey });
      await wholeRun(rb);
      const row = reconcile(rb.journal.all()).rows.find((r) => r.what === "refunded")!;
      assert.equal(row.values.orchestrator, null);
      assert.match(row.verdict, /^NOT CHECKED: the orchestrator could not be read for refund \S+ \(see the warning\)/);
      const v = deriveOutcome(loadEvidence(rb.dir));
      assert.equal(v.outcome, "PARTIAL", v.reason);
      assert.match(v.reason, /refunded/);
    } finally {
      unreadable = null;
    }
  });

  test("a staging run with no refund: the amounts steps 4 and 5 compared at the orchestrator reach the money table", async () => {
    const rb = session({ HYPERSWITCH_URL: hsProxy.url, REFUND: false }, { HYPERSWITCH_API_KEY: sb.apiKey });
    for (const id of ["preflight", "login", "product", "order"]) {
      const r = await rb.run(id);
      assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
    }
    const paid = await payAndConfirm(rb);
    assert.equal(paid.status, "PASS", paid.reason);
    const total = rb.journal.last("order_created")!.data.total_cents;
    const orchestrator = (what: string) => {
      const seen = reconcile(rb.journal.all()).rows.find((r) => r.what === what)!.values.orchestrator;
      return seen && { amount: seen.amount, ref: seen.ref };
    };
    // Step 4 compared the charged amount (and the captured one, when the payment had settled by then).
    assert.deepEqual(orchestrator("charged"), { amount: total, ref: "payment amount" });
    const completed = await rb.run("completed");
    assert.equal(completed.status, "PASS", completed.reason);
    // Step 5 compared what was captured: no later step reads the orchestrator in a run without a refund.
    assert.deepEqual(orchestrator("captured"), { amount: total, ref: "payment amount_received" });
    const ev = loadEvidence(rb.dir);
    assert.equal(notComparedAtOrchestrator(ev), null);
    assert.doesNotMatch(deriveOutcome(ev).reason, /not compared at the orchestrator/);
  });

  test("why the orchestrator did not compare, in one line naming what failed and the fix (not 'set both' when both were)", () => {
    const ev = (url: string | null, reads?: OrchestratorReads) =>
      ({
        parameters: url === null ? null : { params: { HYPERSWITCH_URL: url } },
        orchestratorReads: reads,
      }) as Evidence;
    const fail = (status: number | null, error: string | null = null) => ({
      requests: 3,
      failures: [{ endpoint: "GET /payments/:id", status, error, traceLine: 40 }],
    });
    const url = "https://hs.example.com";
    const cases: Array<[Evidence, RegExp]> = [
      [ev("(none)"), /^HYPERSWITCH_URL was not set → run with HYPERSWITCH_URL .* and HYPERSWITCH_API_KEY set$/],
      [
        ev(url, { requests: 0, failures: [] }),
        /was never asked: no step sent it a request \(HYPERSWITCH_API_KEY not set\?\) → export HYPERSWITCH_API_KEY/,
      ],
      [
        ev(url, fail(401)),
        /^the orchestrator \(https:\/\/hs\.example\.com\) refused the key: 401 \(GET \/payments\/:id, trace L40\) → export the orchestrator's HYPERSWITCH_API_KEY for this mode/,
      ],
      [
        ev(url, fail(null, "request failed: GET https://hs.example.com/payments/pay_1 (ECONNREFUSED)")),
        /could not be reached \(GET \/payments\/:id, trace L40: request failed: .*ECONNREFUSED\)\) → check that HYPERSWITCH_URL is reachable/,
      ],
      [ev(url, fail(503)), /answered 503 \(GET \/payments\/:id, trace L40\) → check the orchestrator's status page/],
      [
        ev(url, { requests: 2, failures: [] }),
        /answered, but not with an answer the steps could read \(see the warnings\)/,
      ],
    ];
    for (const [e, re] of cases) {
      const w = orchestratorWhy(e);
      assert.match(`${w.why} → ${w.fix}`, re);
      assert.doesNotMatch(`${w.why}${w.fix}`, /\n/);
    }
  });

  test("the orchestrator read throughout: PASS", async () => {
    const rb = session({ HYPERSWITCH_URL: hsProxy.url }, { HYPERSWITCH_API_KEY: sb.apiKey });
    await wholeRun(rb);
    const v = deriveOutcome(loadEvidence(rb.dir));
    assert.equal(v.outcome, "PASS", v.reason);
  });
});
