/**
 * Ordinary operator mistakes never leave evidence that says PASS when it is not (issue 11):
 * stopping a poll (Kernel ■), re-running a step while the old run is still going, running the
 * paid cell before paying, a kernel restart that lost the login token, and cells that throw.
 * Driven through lib/ against the sandbox (the JupyterLab test drives the same in a browser).
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { startSandbox, type Sandbox } from "../../sandbox";
import { payHeadless } from "../../lib/clients/payer";
import type { Runbook } from "../../lib/run/runbook";
import { openStaging, openWithoutOrchestrator } from "./fixtures";
import { Session, interruptAll } from "../../lib/run/session";
import { Journal, latestStepResults } from "../../lib/evidence/journal";
import { readTrace } from "../../lib/evidence/chain";
import { TRACE_FILE } from "../../lib/evidence/files";
import type { Sink, TslabLike } from "../../lib/notebook";
import { NotebookUi, openNotebook } from "../../lib/notebook/ui";
import { STEPS } from "../../lib/run/steps";
import { parseConfig } from "../../lib/config";
import type { StepResult } from "../../lib/types";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A tslab stand-in that records every output, by display (updatable ones keep their last value). */
function fakeTslab() {
  const outputs: string[] = [];
  const sink = (push: (s: string) => void): Sink => ({
    markdown: push,
    html: push,
    svg: push,
    text: push,
    png: () => push("[png]"),
  });
  const displays: string[][] = [];
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
  return { tslab, outputs, displays };
}

const stepResults = (dir: string, n: number): StepResult[] =>
  Journal.open(dir)
    .all()
    .filter((e) => e.kind === "step_result" && (e.data as unknown as StepResult).step === n)
    .map((e) => e.data as unknown as StepResult);

const open = (sb: Sandbox, archive: string, id: string, extra: Record<string, unknown> = {}): Runbook =>
  openStaging(sb, archive, id, { POLL_DEADLINE_S: 60, ...extra }, { HYPERSWITCH_API_KEY: sb.apiKey });

async function untilOrderLeftPending(rb: Runbook): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if ((await rb.getOrder(rb.order!.id)).status !== "pending") return;
    await sleep(100);
  }
  throw new Error("the order never left pending");
}

describe("without the orchestrator: interrupts, superseded runs, restarts", () => {
  let sb: Sandbox;
  let archive: string;
  let rb: Runbook;
  before(async () => {
    // The order stays `processing` for a long while after paying: step 5 is mid-poll when stopped.
    sb = await startSandbox({ quiet: true, faults: { completionDelayMs: 600_000, refundDelayMs: 100 } });
    archive = fs.mkdtempSync(path.join(os.tmpdir(), "mistakes-"));
    // Only a sandbox run may go without the orchestrator (pre-flight refuses staging without it).
    rb = openWithoutOrchestrator(sb, archive, { POLL_DEADLINE_S: 60 });
    for (const r of [await rb.run("preflight"), await rb.run("login"), await rb.run("product"), await rb.run("order")])
      assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
  });
  after(async () => {
    await rb?.close();
    await sb?.stop();
  });

  test("step 5 before the paid cell is SKIPPED with what to do, not 'has not run yet' alone", async () => {
    const r = await rb.run("completed");
    assert.equal(r.status, "SKIPPED");
    assert.match(r.reason!, /step 4 .* has not run yet — pay at the link in step 4, then run the paid cell/);
  });

  test("the paid cell before paying is not a PASS: it says so, confirms nothing and keeps the link usable", async () => {
    const r = await rb.confirmPaid({ last4: "4242", processor: "stripe" });
    assert.equal(r.status, "SKIPPED", r.reason);
    assert.match(r.reason!, /^not paid yet \(order pending\): pay at the link above, then run this cell again/);
    assert.equal(rb.journal.last("payment_confirmed"), undefined, "nothing confirmed");
    assert.equal(rb.moneyMoved, false);
    const p = await rb.pay();
    assert.match(p.note, /pay in your browser/, "the pay cell still offers the checkout");
    assert.equal((await rb.run("completed")).status, "SKIPPED", "step 5 still waits for a real payment");
  });

  test("paying, then the paid cell: PASS, timed from the order's own paid_at (not when the cell ran)", async () => {
    const p = await rb.pay();
    const t0 = Date.now();
    await payHeadless(p.paymentUrl, "success", { browser: false });
    await untilOrderLeftPending(rb);
    const r = await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
    assert.equal(r.status, "PASS", r.reason);
    assert.equal(r.observed.time_source, "the order's paid_at");
    assert.ok(Date.parse(String(r.observed.transaction_time)) >= t0);
    assert.equal(r.observed.transaction_time, (await rb.getOrder(rb.order!.id)).paid_at, "the backend's own time");
  });

  test("Kernel ■ during step 5's poll stops it: INTERRUPTED, nothing written after, no PASS", async () => {
    const running = rb.run("completed");
    await sleep(1200);
    assert.deepEqual(interruptAll("interrupted by the operator (Kernel ■)"), [5]);
    const r = await running;
    assert.equal(r.status, "INTERRUPTED");
    assert.match(
      r.reason!,
      /^interrupted by the operator \(Kernel ■\) at \d\d:\d\d:\d\dZ \(this machine's clock\); nothing more is recorded/,
    );
    const lines = readTrace(path.join(rb.dir, TRACE_FILE)).length;
    await sleep(1500);
    assert.equal(readTrace(path.join(rb.dir, TRACE_FILE)).length, lines, "the trace stopped growing");
    const end = readTrace(path.join(rb.dir, TRACE_FILE)).at(-1)!;
    assert.equal(end.type, "step_end", "the interrupted run's last line is its step_end");
  });

  test("re-running step 5 while an old run still polls supersedes it: one result each, one PASS at most", async () => {
    const first = rb.run("completed");
    await sleep(800);
    const second = rb.run("completed"); // the re-run (tslab had abandoned the first cell)
    const a = await first;
    assert.equal(a.status, "INTERRUPTED");
    assert.match(a.reason!, /^superseded: step 5 was started while it ran/);
    sb.setFaults({ completionDelayMs: 0 });
    // Completion was scheduled at payment time (10 min): end it now through a fresh poll window.
    const b = await Promise.race([second, sleep(5000).then(() => null)]);
    if (b === null) {
      rb.interrupt("test over");
      await second;
    }
    const five = stepResults(rb.dir, 5);
    assert.ok(five.filter((x) => x.status === "PASS").length <= 1, "never two PASS results");
    assert.ok(five.filter((x) => x.status === "INTERRUPTED").length >= 2);
  });

  test("after a kernel restart the first authenticated call logs in again, once and traced", async () => {
    const fresh = openWithoutOrchestrator(sb, archive, { POLL_DEADLINE_S: 60 }, {}, rb.cfg.sessionId);
    try {
      assert.equal(fresh.api.token, null, "a new kernel holds no token");
      const before = readTrace(path.join(rb.dir, TRACE_FILE)).length;
      const o = await fresh.getOrder(fresh.order!.id);
      assert.equal(o.id, fresh.order!.id);
      const added = readTrace(path.join(rb.dir, TRACE_FILE)).slice(before);
      const logins = added.filter(
        (e) => e.type === "request" && String((e.payload as { url?: string }).url).endsWith("/auth/login"),
      );
      assert.equal(logins.length, 1, "one login");
      assert.ok(
        added.some(
          (e) =>
            e.type === "note" &&
            /no access token in this kernel .*logging in again once/.test(
              String((e.payload as { event?: string }).event),
            ),
        ),
      );
    } finally {
      await fresh.close();
    }
  });
});

describe("with the orchestrator (HYPERSWITCH_URL)", () => {
  let sb: Sandbox;
  let archive: string;
  before(async () => {
    sb = await startSandbox({ quiet: true, faults: { completionDelayMs: 300, refundDelayMs: 100 } });
    archive = fs.mkdtempSync(path.join(os.tmpdir(), "mistakes-hs-"));
  });
  after(async () => sb?.stop());

  test("paid cell before paying: not paid yet (orchestrator: requires_payment_method); after paying PASS with the payment's own time", async () => {
    const dir = fs.mkdtempSync(path.join(archive, "t-")); // session ids have 1 s resolution
    const rb = open(sb, dir, Session.create("staging", dir), { HYPERSWITCH_URL: sb.hyperswitchUrl });
    try {
      for (const r of [
        await rb.run("preflight"),
        await rb.run("login"),
        await rb.run("product"),
        await rb.run("order"),
      ])
        assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
      const early = await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
      assert.equal(early.status, "SKIPPED");
      assert.match(early.reason!, /^not paid yet \(orchestrator: requires_payment_method\)/);
      assert.match(String(early.observed.orchestrator), /^requires_payment_method/);
      const p = await rb.pay();
      await payHeadless(p.paymentUrl, "success", { browser: false });
      const hsPayment = async () =>
        (
          await rb.hs!.call({
            method: "GET",
            path: `/payments/${rb.order!.paymentId}`,
            endpoint: "GET /payments/:id",
            schema: (await import("../../lib/contract")).HsPayment,
            enveloped: false,
            headers: { "api-key": sb.apiKey },
          })
        ).data;
      // Settled first: `updated` moves again when processing becomes succeeded, so the orchestrator's
      // time is now later than the payment; the order's paid_at (the payment event's time) is earlier.
      for (let i = 0; i < 200 && (await hsPayment()).status !== "succeeded"; i++) await sleep(25);
      const r = await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
      assert.equal(r.status, "PASS", r.reason);
      assert.equal(r.observed.time_source, "the order's paid_at");
      const hs = await hsPayment();
      const paidAt = (await rb.getOrder(rb.order!.id)).paid_at!;
      assert.equal(r.observed.transaction_time, paidAt, "the backend's own time of the payment");
      assert.ok(Date.parse(paidAt) < Date.parse(hs.updated!), "earlier than the settled payment's `updated`");
      const five = await rb.run("completed");
      assert.equal(five.status, "PASS", five.reason);
      assert.match(String(five.observed.counted_from), /^the order's paid_at \(.+\) to the order's completed_at/);
      const results = latestStepResults(Journal.open(rb.dir).all());
      assert.equal(stepResults(rb.dir, 4).filter((x) => x.status === "PASS").length, 1);
      assert.equal(results.get("pay")?.status, "PASS");
    } finally {
      await rb.close();
    }
  });

  test("last 4 digits other than the orchestrator's card: refused, never confirmed, but money moved", async () => {
    const dir = fs.mkdtempSync(path.join(archive, "t-"));
    const rb = open(sb, dir, Session.create("staging", dir), { HYPERSWITCH_URL: sb.hyperswitchUrl });
    try {
      for (const r of [
        await rb.run("preflight"),
        await rb.run("login"),
        await rb.run("product"),
        await rb.run("order"),
      ])
        assert.equal(r.status, "PASS");
      const p = await rb.pay();
      await payHeadless(p.paymentUrl, "success", { browser: false }); // the sandbox's success card ends 4242
      await untilOrderLeftPending(rb);
      const r = await rb.confirmPaid({ last4: "1111", processor: "sandbox_card" });
      assert.equal(r.status, "FAIL");
      assert.match(r.reason!, /was made with the card ending 4242, not 1111: check which card paid/);
      assert.equal(Journal.open(rb.dir).last("payment_confirmed"), undefined, "nothing confirmed");
      assert.equal(rb.moneyMoved, true, "but the record says money moved");
      const again = await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
      assert.equal(again.status, "PASS", again.reason);
    } finally {
      await rb.close();
    }
  });

  test("a full card number in the paid cell after step 4 passed: refused in one line, nothing stored (issue 22)", async () => {
    const dir = fs.mkdtempSync(path.join(archive, "t-"));
    const rb = open(sb, dir, Session.create("staging", dir), { HYPERSWITCH_URL: sb.hyperswitchUrl });
    try {
      for (const r of [
        await rb.run("preflight"),
        await rb.run("login"),
        await rb.run("product"),
        await rb.run("order"),
      ])
        assert.equal(r.status, "PASS");
      const p = await rb.pay();
      await payHeadless(p.paymentUrl, "success", { browser: false });
      await untilOrderLeftPending(rb);
      assert.equal((await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" })).status, "PASS");
      const sizes = () => ["state.jsonl", TRACE_FILE].map((f) => fs.statSync(path.join(rb.dir, f)).size);
      const before = sizes();
      // Built at run time: the pre-commit scan refuses a card number written in a file.
      const full = "4242".repeat(4);
      for (const pan of [full, Array(4).fill("4242").join(" "), "42424"])
        await assert.rejects(rb.confirmPaid({ last4: pan, processor: "sandbox_card" }), (e: unknown) => {
          assert.ok(e instanceof Error);
          assert.doesNotMatch(e.message, /\n/);
          assert.match(
            e.message,
            /^CARD_LAST4: enter exactly the last 4 digits .* step 4 already passed at \S+, so clear the paid cell's last4/,
          );
          assert.ok(!e.message.includes("424242"), "the digits are not repeated");
          return true;
        });
      assert.deepEqual(sizes(), before, "no journal or trace line written");
      assert.equal(stepResults(rb.dir, 4).length, 1, "no second step 4 result");
      for (const f of fs.readdirSync(rb.dir))
        assert.ok(!fs.readFileSync(path.join(rb.dir, f), "utf8").includes(full), `${f} holds no card number`);
      // The paid cell as the operator wrote it, through the notebook: one banner, the cell returns.
      const t = fakeTslab();
      const ui = new NotebookUi(rb, t.tslab);
      await ui.paid({ last4: full, processor: "sandbox_card" });
      assert.match(t.outputs.join("\n"), /could not run[\s\S]*CARD_LAST4: enter exactly the last 4 digits/);
      assert.equal(stepResults(rb.dir, 4).length, 1);
      assert.equal((await rb.confirmPaid({ last4: "", processor: "" })).observed.resumed !== undefined, true);
    } finally {
      await rb.close();
    }
  });

  test("a declined card: the paid cell FAILs with no money moved", async () => {
    const dir = fs.mkdtempSync(path.join(archive, "t-")); // session ids have 1 s resolution
    const rb = open(sb, dir, Session.create("staging", dir), { HYPERSWITCH_URL: sb.hyperswitchUrl });
    try {
      for (const r of [
        await rb.run("preflight"),
        await rb.run("login"),
        await rb.run("product"),
        await rb.run("order"),
      ])
        assert.equal(r.status, "PASS");
      const p = await rb.pay();
      await payHeadless(p.paymentUrl, "declined", { browser: false });
      const r = await rb.confirmPaid({ last4: "0002", processor: "sandbox_card" });
      assert.equal(r.status, "FAIL", JSON.stringify({ reason: r.reason, observed: r.observed, step: r.step }));
      assert.match(
        r.reason!,
        /the orchestrator says the payment \S+ is failed: no money moved; pay again in a fresh session/,
      );
      assert.equal(rb.moneyMoved, false);
    } finally {
      await rb.close();
    }
  });
});

describe("the notebook never throws into tslab", () => {
  test("every step of the table carries its behaviour (`run`), and `nb.run` dispatches through the table", () => {
    assert.ok(STEPS.every((d) => typeof d.run === "function"));
  });

  test("a bad parameter: one banner, then every cell says 'not started' instead of throwing", async () => {
    const { tslab, outputs, displays } = fakeTslab();
    const nb = openNotebook({ MODE: "sandbox", BASE_URL: "not a url", OPERATOR_EMAIL: "a@b.test" }, tslab);
    assert.match(outputs[0], /🛑 Cannot start/);
    assert.match(outputs[0], /BASE_URL/);
    assert.match(displays[0][0], /Outcome: not started/);
    for (const { id } of STEPS) assert.equal(await nb.run(id), undefined);
    await nb.pay();
    await nb.paid({ last4: "4242", processor: "x" });
    await nb.plot();
    await nb.report();
    assert.ok(outputs.slice(1).every((o) => /Not started/.test(o)));
  });

  test("a method whose step cannot run shows one FAIL banner and returns normally", async () => {
    const archive = fs.mkdtempSync(path.join(os.tmpdir(), "nothrow-"));
    const id = Session.create("sandbox", archive);
    const { tslab, outputs } = fakeTslab();
    const saved = process.env.OPERATOR_PASSWORD;
    process.env.OPERATOR_PASSWORD = "not-a-real-password";
    const nb = openNotebook(
      {
        SESSION_ID: id,
        MODE: "sandbox",
        BASE_URL: "http://127.0.0.1:9",
        OPERATOR_EMAIL: "a@b.test",
        ARCHIVE_DIR: archive,
      },
      tslab,
    );
    if (saved === undefined) delete process.env.OPERATOR_PASSWORD;
    else process.env.OPERATOR_PASSWORD = saved;
    assert.ok(nb instanceof NotebookUi);
    await nb.pay(); // no order in this session: the lib throws E2E_STATE
    assert.match(outputs.at(-1)!, /❌ Step 4 \(Pay via Hyperswitch checkout\) could not run/);
    assert.match(outputs.at(-1)!, /no order in this session: step 3 must pass first/);
    await nb.run("completed");
    assert.match(outputs.join("\n"), /⏭️ SKIPPED/);
    await nb.rb!.close();
  });
});

test("BASE_URL is the origin, with or without the /api/v1 the sandbox prints", () => {
  const env = { OPERATOR_PASSWORD: "x" };
  for (const u of [
    "http://127.0.0.1:8080",
    "http://127.0.0.1:8080/",
    "http://127.0.0.1:8080/api/v1",
    "http://127.0.0.1:8080/api/v1/",
  ])
    assert.equal(
      parseConfig(
        { SESSION_ID: "20261129T000000Z-sandbox", MODE: "sandbox", BASE_URL: u, OPERATOR_EMAIL: "a@b.test" },
        env,
      ).baseUrl,
      "http://127.0.0.1:8080",
    );
});
