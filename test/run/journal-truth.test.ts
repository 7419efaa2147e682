/**
 * What the auditor reads agrees with what happened (issue 22 §3–5), driven through lib/ and the
 * notebook's cell API against the sandbox:
 * - the refund waits for steps 5–7 on a paid order (Run All with the paid cell empty refunds nothing;
 *   a FAILED check, or the operator's written reason, lets it act, and is recorded);
 * - the parameters are pinned at pre-flight: a later cell with MAX_PRICE (or MODE, BASE_URL, PRODUCT, HYPERSWITCH_URL, the key prefix,
 *   REFUND) changed is refused naming the change, until pre-flight runs again, which records it;
 * - a "cannot start" banner is computed from the journal: never "no money moved" once money moved;
 * - a pre-flight NO-GO says what is true (requests were sent) and prints no "continuing will charge".
 */
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { startSandbox, type Sandbox } from "../../sandbox";
import { payHeadless } from "../../lib/clients/payer";
import type { Runbook } from "../../lib/run/runbook";
import { Session } from "../../lib/run/session";
import { Journal } from "../../lib/evidence/journal";
import { readTrace } from "../../lib/evidence/chain";
import { TRACE_FILE } from "../../lib/evidence/files";
import type { Sink, TslabLike } from "../../lib/notebook";
import { openNotebook } from "../../lib/notebook/ui";
import { notStartedLines } from "../../lib/notebook/standing";
import { ConfigError } from "../../lib/errors";
import { loadEvidence } from "../../lib/report/evidence";
import { renderSessionBlock } from "../../lib/report/report";
import { actionItems } from "../../lib/report/verdict";
import { openStaging } from "./fixtures";
import { STEPS } from "../../lib/run/steps";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A tslab stand-in that records every output (updatable displays keep their last value). */
function fakeTslab() {
  const outputs: string[] = [];
  const displays: string[][] = [];
  const sink = (push: (s: string) => void): Sink => ({
    markdown: push,
    html: push,
    svg: push,
    text: push,
    png: () => push("[png]"),
  });
  const tslab: TslabLike = {
    display: sink((s) => outputs.push(s)),
    newDisplay() {
      const slot: string[] = [];
      displays.push(slot);
      return sink((s) => {
        slot.length = 0;
        slot.push(s);
      });
    },
  };
  return { tslab, outputs, displays, all: () => [...outputs, ...displays.flat()].join("\n") };
}

const kinds = (dir: string) =>
  Journal.open(dir)
    .all()
    .map((e) => e.kind);

async function untilOrderLeftPending(rb: Runbook): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await rb.getOrder(rb.order!.id)).status !== "pending") return;
    await sleep(100);
  }
  throw new Error("the order never left pending");
}

let sb: Sandbox;
let archive: string;
const saved = process.env.OPERATOR_PASSWORD;

before(async () => {
  sb = await startSandbox({ quiet: true, faults: { completionDelayMs: 100, refundDelayMs: 100 } });
  archive = fs.mkdtempSync(path.join(os.tmpdir(), "journal-truth-"));
  process.env.OPERATOR_PASSWORD = sb.operator.password;
  process.env.DATABASE_URL = sb.readonlyDsn; // the notebook reads secrets from the environment
  process.env.HYPERSWITCH_API_KEY = sb.apiKey; // staging compares amounts at the orchestrator double
});
after(async () => {
  process.env.OPERATOR_PASSWORD = saved;
  delete process.env.DATABASE_URL;
  delete process.env.HYPERSWITCH_API_KEY;
  await sb?.stop();
});

/** The notebook's parameters for a staging session on the sandbox (as the injected cell sets them). */
const params = (id: string, extra: Record<string, unknown> = {}) => ({
  SESSION_ID: id,
  MODE: "staging",
  BASE_URL: sb.marketplaceUrl,
  HYPERSWITCH_URL: sb.hyperswitchUrl,
  OPERATOR_EMAIL: sb.operator.email,
  REFUND: true,
  POLL_DEADLINE_S: 30,
  ARCHIVE_DIR: archive,
  DOCS_DIR: archive,
  ...extra,
});

describe("the refund waits for steps 5–7 (issue 22 §3)", () => {
  test("Run All after paying with the paid cell empty: stops at the paid cell, refunds nothing; filled in, all passes", async () => {
    const id = Session.create("staging", archive);
    const ui = fakeTslab();
    const nb = openNotebook(params(id), ui.tslab);
    const rb = nb.rb!;
    for (const s of ["preflight", "login", "product", "order"]) await nb.run(s);
    await nb.pay();
    // The operator pays in the browser, then runs everything (Run All) with the paid cell still empty.
    const paid = await payHeadless((await rb.pay()).paymentUrl, "success", { browser: false });
    await untilOrderLeftPending(rb);
    const before = await sb.counts();
    for (const s of ["preflight", "login", "product", "order"]) await nb.run(s);
    await nb.pay();
    await nb.paid({ last4: "", processor: "" });
    for (const s of ["completed", "licence", "transfer", "refund", "refunded"]) await nb.run(s);
    const r = (n: number) => rb.results.get(STEPS[n].id)!;
    assert.equal(r(4).status, "FAIL", r(4).reason);
    assert.ok(rb.moneyMoved, "the payment went through: money moved");
    for (const n of [5, 6, 7]) assert.equal(r(n).status, "SKIPPED", `step ${n}: ${r(n).reason}`);
    assert.equal(r(8).status, "SKIPPED", r(8).reason);
    assert.match(r(8).reason!, /step 5 .* was skipped \(step 4 failed at .*\): step 8 waits for steps 5, 6, 7/);
    assert.match(r(8).reason!, /await nb\.run\("refund", \{ reason: "…" \}\);/);
    assert.equal(r(9).status, "SKIPPED");
    assert.ok(!kinds(rb.dir).includes("refund_intent"), "no refund was even attempted");
    assert.equal((await sb.counts()).refunds, before.refunds, "no refund row at the orchestrator");
    assert.match(ui.all(), /The refund step \(8\) stays available: it acts once steps 5, 6, 7 have run/);

    // Filled in: the checks run on this payment, then the refund acts without any reason.
    await nb.paid({ last4: paid.last4, processor: paid.connector ?? "sandbox_card" });
    assert.equal(r(4).status, "PASS", r(4).reason);
    for (const s of ["completed", "licence", "transfer", "refund", "refunded"]) await nb.run(s);
    for (const n of [5, 6, 7, 8, 9]) assert.equal(r(n).status, "PASS", `step ${n}: ${r(n).reason}`);
    assert.equal(r(8).observed.before_checks, undefined, "after passed checks the refund needs no reason");
    await rb.close();
  });

  test("refund before step 5: SKIPPED with what to do, then acts on a written reason, recorded in the report", async () => {
    const id = Session.create("staging", archive);
    const rb = openStaging(sb, archive, id, { DOCS_DIR: archive });
    for (const r of [await rb.run("preflight"), await rb.run("login"), await rb.run("product"), await rb.run("order")])
      assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
    const paid = await payHeadless((await rb.pay()).paymentUrl, "success", { browser: false });
    await untilOrderLeftPending(rb);
    assert.equal((await rb.confirmPaid({ last4: paid.last4, processor: "sandbox_card" })).status, "PASS");
    const refunds = (await sb.counts()).refunds;
    const early = await rb.run("refund");
    assert.equal(early.status, "SKIPPED", early.reason);
    assert.match(early.reason!, /^step 5 \(.*\) has not run yet: step 8 waits for steps 5, 6, 7/);
    const short = await rb.run("refund", { reason: "because" });
    assert.equal(short.status, "SKIPPED");
    assert.match(short.reason!, /at least 10 characters, not "because"/);
    assert.equal((await sb.counts()).refunds, refunds, "nothing refunded while waiting");
    // The marketplace refunds completed orders only: it completed meanwhile, unchecked by step 5.
    for (let i = 0; i < 100 && (await rb.getOrder(rb.order!.id)).status !== "completed"; i++) await sleep(100);
    const why = "the card's owner asked for the money back before the checks";
    const r8 = await rb.run("refund", { reason: why });
    assert.equal(r8.status, "PASS", r8.reason);
    assert.equal(
      r8.observed.before_checks,
      `operator: ${why} (step 5 (Poll /orders/:id until completed) has not run yet)`,
    );
    assert.equal((await sb.counts()).refunds, refunds + 1);
    assert.equal((await rb.run("refunded")).status, "PASS");
    const block = renderSessionBlock(loadEvidence(rb.dir));
    assert.match(block, new RegExp(`operator · step 8 ran before steps 5, 6, 7 passed .*${why}`));
    await rb.close();
  });

  test("a FAILED check is the refund's recorded reason: the refund stays available without one", async () => {
    sb.setFaults({ completionDelayMs: 600_000 });
    try {
      const id = Session.create("staging", archive);
      const rb = openStaging(sb, archive, id, { POLL_DEADLINE_S: 5 }, { HYPERSWITCH_API_KEY: sb.apiKey });
      for (const r of [
        await rb.run("preflight"),
        await rb.run("login"),
        await rb.run("product"),
        await rb.run("order"),
      ])
        assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
      const paid = await payHeadless((await rb.pay()).paymentUrl, "success", { browser: false });
      await untilOrderLeftPending(rb);
      assert.equal((await rb.confirmPaid({ last4: paid.last4, processor: paid.connector ?? "x" })).status, "PASS");
      const s5 = await rb.run("completed");
      assert.equal(s5.status, "FAIL", s5.reason);
      // It acts (the marketplace answers 409 for an order that never completed: escalation, not silence).
      const r8 = await rb.run("refund");
      assert.equal(r8.status, "FAIL", r8.reason);
      assert.match(r8.reason!, /answered 409: order is processing/);
      assert.ok(kinds(rb.dir).includes("refund_intent"));
      assert.match(
        String(r8.observed.before_checks),
        /^after step 5 \(Poll \/orders\/:id until completed\) FAILED at /,
      );
      await rb.close();
    } finally {
      sb.setFaults({ completionDelayMs: 100 });
    }
  });
});

describe("parameters pinned at pre-flight (issue 22 §4)", () => {
  test("HYPERSWITCH_URL or the API key's kind changed after pre-flight: refused, nothing sent (review 9)", async () => {
    const id = Session.create("staging", archive);
    const hs = { HYPERSWITCH_URL: sb.hyperswitchUrl };
    const rb = openStaging(sb, archive, id, hs, { HYPERSWITCH_API_KEY: sb.apiKey });
    assert.equal((await rb.run("preflight")).status, "PASS");
    // The processor mode /status gave, as data (confirm-bank reads it, never the fact's words).
    assert.equal(Journal.open(rb.dir).last("preflight")!.data.hyperswitch_mode, "sandbox");
    const pin = Journal.open(rb.dir).last("preflight")!.data.params as Record<string, string>;
    assert.equal(pin.HYPERSWITCH_URL, sb.hyperswitchUrl);
    assert.match(pin.HYPERSWITCH_KEY_PREFIX, /^[a-z]+_$/);
    assert.ok(!JSON.stringify(pin).includes(sb.apiKey), "the key itself is never pinned");
    await rb.close();
    const elsewhere = "http://127.0.0.1:9";
    for (const [extra, env, change] of [
      [
        { HYPERSWITCH_URL: elsewhere },
        { HYPERSWITCH_API_KEY: sb.apiKey },
        /HYPERSWITCH_URL .* → http:\/\/127\.0\.0\.1:9/,
      ],
      [hs, { HYPERSWITCH_API_KEY: "prd_0123456789abcdef" }, /HYPERSWITCH_KEY_PREFIX [a-z]+_ → prd_/],
    ] as const) {
      const again = openStaging(sb, archive, id, extra, env);
      const lines = readTrace(path.join(again.dir, TRACE_FILE)).length;
      await assert.rejects(again.run("login"), (e: Error) => change.test(e.message));
      const sent = readTrace(path.join(again.dir, TRACE_FILE))
        .slice(lines)
        .filter((e) => e.type === "request");
      assert.equal(sent.length, 0, "nothing was sent by a refused step");
      await again.close();
    }
  });

  test("MAX_PRICE raised after pre-flight: refused naming the change until pre-flight re-pins it, then listed", async () => {
    const id = Session.create("staging", archive);
    const rb = openStaging(sb, archive, id, { DOCS_DIR: archive });
    assert.equal((await rb.run("preflight")).status, "PASS");
    const pin = Journal.open(rb.dir).last("preflight")!.data.params as Record<string, string>;
    assert.deepEqual(pin, {
      MODE: "staging",
      BASE_URL: sb.marketplaceUrl,
      PRODUCT: "cheapest",
      MAX_PRICE: "5.00",
      REFUND: "true",
      HYPERSWITCH_URL: sb.hyperswitchUrl,
      HYPERSWITCH_KEY_PREFIX: "snd_",
    });
    await rb.close();
    // The operator edits MAX_PRICE and re-runs the parameters and session cells.
    const ui = fakeTslab();
    const nb = openNotebook(params(id, { MAX_PRICE: "30.00" }), ui.tslab);
    const lines = readTrace(path.join(rb.dir, TRACE_FILE)).length;
    for (const s of ["login", "product", "order"]) await nb.run(s);
    await nb.pay();
    const refusals = ui.outputs.filter((o) => /could not run/.test(o));
    assert.equal(refusals.length, 4, ui.outputs.join("\n---\n"));
    for (const o of refusals)
      assert.match(
        o,
        /refused \(parameters\): MAX_PRICE 5\.00 → 30\.00 since the pre-flight of \d\d:\d\d:\d\dZ \(this machine's clock\) — set it back/,
      );
    const sent = readTrace(path.join(rb.dir, TRACE_FILE))
      .slice(lines)
      .filter((e) => e.type === "request");
    assert.equal(sent.length, 0, "nothing was sent by a refused cell");
    assert.equal(nb.rb!.results.get("login"), undefined, "no step result was recorded");
    // Pre-flight again pins it and records the change; then the run goes on with the new cap.
    await nb.run("preflight");
    await nb.run("login");
    await nb.run("product");
    assert.equal(nb.rb!.results.get("product")?.status, "PASS");
    assert.match(JSON.stringify(nb.rb!.results.get("product")?.observed.price), /"minor":2400/);
    const ev = loadEvidence(rb.dir);
    assert.equal(ev.parameters?.params.MAX_PRICE, "30.00");
    const block = renderSessionBlock(ev);
    assert.match(
      block,
      /\*\*Parameters\*\* : MODE `staging` · BASE_URL `.*` · PRODUCT `cheapest` · MAX_PRICE `30\.00` · REFUND `true`/,
    );
    assert.match(
      block,
      /operator · parameters changed since the pre-flight of .*: MAX_PRICE 5\.00 → 30\.00 — pinned again/,
    );
    assert.doesNotMatch(block, /none recorded or derived/);
    await nb.rb!.close();
  });

  test("PRODUCT, REFUND and BASE_URL changes are refused the same way, each named", async () => {
    const id = Session.create("staging", archive);
    const rb = openStaging(sb, archive, id);
    assert.equal((await rb.run("preflight")).status, "PASS");
    await rb.close();
    const changed: Array<[Record<string, unknown>, RegExp]> = [
      [{ PRODUCT: "prod_other" }, /PRODUCT cheapest → prod_other/],
      [{ REFUND: false }, /REFUND true → false/],
      [
        { BASE_URL: sb.marketplaceUrl.replace("127.0.0.1", "localhost") },
        /BASE_URL http:\/\/127\.0\.0\.1:\d+ → http:\/\/localhost:\d+/,
      ],
    ];
    for (const [extra, re] of changed) {
      const other = openStaging(sb, archive, id, extra);
      await assert.rejects(
        other.run("login"),
        (e: Error) => re.test(e.message) && /run pre-flight again/.test(e.message),
      );
      await other.close();
    }
    // Each refused attempt reaches the report's anomalies, though the parameter was then set back
    // and pre-flight never re-pinned it: the trace held it only as a note before.
    const ev = loadEvidence(rb.dir);
    const said = ev.anomalies.map((a) => a.message);
    for (const [, re] of changed)
      assert.ok(
        said.some(
          (m) => m.startsWith("step 1 refused, nothing sent: parameters changed since the pre-flight") && re.test(m),
        ),
        `${re} not among the anomalies: ${said.join("; ")}`,
      );
    const block = renderSessionBlock(ev);
    assert.doesNotMatch(block, /none recorded or derived/);
  });
});

describe("banners computed from the journal (issue 22 §5)", () => {
  let id: string;
  let rb: Runbook;
  before(async () => {
    id = Session.create("staging", archive);
    const nb = openNotebook(params(id), fakeTslab().tslab);
    rb = nb.rb!;
    for (const s of ["preflight", "login", "product", "order"]) await nb.run(s);
    const paid = await payHeadless((await rb.pay()).paymentUrl, "success", { browser: false });
    await untilOrderLeftPending(rb);
    await nb.paid({ last4: paid.last4, processor: "sandbox_card" });
    assert.ok(rb.moneyOutstanding);
  });
  after(async () => rb?.close());

  const assertMoneyBanner = (text: string) => {
    assert.doesNotMatch(text, /no money moved/i);
    assert.match(text, /Money moved in session \S+ and has not been refunded\*\* \(order ord_\w+\)/);
    assert.match(text, /Do not start a fresh session: it would leave this payment unrefunded/);
    assert.doesNotMatch(text, /create a session with|start a fresh session with/, "no advice towards a fresh session");
  };

  test("the parameters cell re-run without the injected cell: re-run the injected cell, never 'no money moved'", async () => {
    const ui = fakeTslab();
    const nb = openNotebook(params(""), ui.tslab);
    assert.equal(nb.rb, null);
    assertMoneyBanner(ui.outputs[0]);
    assert.match(ui.outputs[0], /re-run the injected-parameters cell .* so SESSION_ID is \S+ again/);
    assertMoneyBanner(ui.displays[0][0]); // the outcome at the top
    await nb.run("refund");
    assertMoneyBanner(ui.outputs[1]); // every later cell
  });

  test("a MODE edit: set MODE back", async () => {
    const ui = fakeTslab();
    openNotebook(params(id, { MODE: "live" }), ui.tslab);
    assertMoneyBanner(ui.outputs[0]);
    assert.match(ui.outputs[0], /set MODE = "staging" in the parameters cell/);
  });

  test("a second kernel holds the session: resume there", async () => {
    const lockJs = path.resolve("lib/run/lock.ts");
    const child: ChildProcess = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "-e",
        `import(${JSON.stringify(lockJs)}).then((m) => { m.acquireSessionLock(${JSON.stringify(rb.dir)}, "x"); console.log("held"); setInterval(() => {}, 1000); });`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      await rb.close(); // this kernel lets go; the other one takes the lock
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on("data", (b: Buffer) => b.toString().includes("held") && resolve());
        child.on("exit", (c) => reject(new Error(`the other kernel exited ${c}`)));
      });
      const ui = fakeTslab();
      openNotebook(params(id), ui.tslab);
      assert.match(ui.outputs[0], /open in another kernel/);
      assertMoneyBanner(ui.outputs[0]);
      assert.match(ui.outputs[0], /resume it in the kernel that holds it/);
    } finally {
      child.kill();
      await new Promise((r) => child.once("exit", r));
      rb = openStaging(sb, archive, id);
    }
  });

  test("no journal known: says this cell sent nothing, not that no money moved", () => {
    const text = notStartedLines("SESSION_ID: missing", new Error("x"), null).join("\n");
    assert.doesNotMatch(text, /no money moved/i);
    assert.match(text, /This cell sent nothing/);
  });

  test("the session id and mode read from a journal are inert in the banner (review 11)", () => {
    const hostile = {
      sessionId: "<img src=x onerror=alert(1)>",
      mode: "*live*[x](javascript:1)",
      orderId: "o",
      moved: true,
      outstanding: true,
      refundedSoFar: null,
    };
    const err = new ConfigError("SESSION_ID", "belongs to another mode");
    for (const e of [err, new Error("x")]) {
      const text = notStartedLines("r", e, hostile).join("\n");
      assert.doesNotMatch(text, /(?<!\\)<img|(?<!\\)\*live|(?<!\\)\]\(javascript/, text);
    }
  });
});

describe("advice resumes a session with an order (issue 22 §5)", () => {
  test("pre-flight refused after the order was created: run it again in this session, not a fresh one", async () => {
    const id = Session.create("staging", archive);
    const rb = openStaging(sb, archive, id);
    for (const r of [await rb.run("preflight"), await rb.run("login"), await rb.run("product"), await rb.run("order")])
      assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
    await rb.close();
    const cheaper = openStaging(sb, archive, id, { MAX_PRICE: "1.00" });
    assert.equal((await cheaper.run("preflight")).status, "FAIL");
    const items = actionItems(loadEvidence(cheaper.dir));
    assert.ok(
      items.some((a) =>
        new RegExp(
          `^Fix the pre-flight refusal, then run pre-flight again in this session \\(order ${cheaper.order!.id} is recorded here`,
        ).test(a),
      ),
      items.join("\n"),
    );
    assert.ok(!items.some((a) => /start a fresh session/.test(a)), items.join("\n"));
    await cheaper.close();
  });
});

describe("pre-flight NO-GO wording", () => {
  test("a refused live pre-flight says nothing was charged, not 'nothing was sent', and never 'continuing will charge'", async () => {
    const id = Session.create("live", archive);
    const ui = fakeTslab();
    const nb = openNotebook(params(id, { MODE: "live", LIVE_CONFIRM: "charge 5.00 EUR" }), ui.tslab);
    await nb.run("preflight");
    const r = nb.rb!.results.get("preflight")!;
    assert.equal(r.status, "FAIL");
    const text = ui.all();
    assert.ok(
      readTrace(path.join(nb.rb!.dir, TRACE_FILE)).some((e) => e.type === "request"),
      "GETs were sent",
    );
    assert.doesNotMatch(text, /nothing was sent/i);
    assert.match(text, /Pre-flight refused \(NO-GO\) — no order was created and nothing was charged/);
    assert.doesNotMatch(text, /continuing will charge/);
    // The same report's reminder is what `npm run preflight` prints on a NO-GO.
    assert.doesNotMatch(nb.rb!.preflightReport!.reminder, /continuing will charge/);
    assert.match(nb.rb!.preflightReport!.reminder, /this NO-GO created no order and charged nothing/);
    await nb.rb!.close();
  });
});
