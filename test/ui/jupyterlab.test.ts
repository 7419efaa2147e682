/**
 * The operator path in a real browser (issue 11 §6): headless Chromium (Debian's, through
 * playwright-core) drives real JupyterLab with the project's tslab kernel against the sandbox.
 * Cells run one by one with Shift+Enter; the paid cell is run before paying; the checkout is paid
 * by hand in a second tab; step 5 is interrupted mid-poll with ■ and re-run; then Kernel >
 * Restart Kernel and Run All Cells, Ctrl+S, and the saved notebook, the journal, the report and
 * the sandbox database are checked.
 *
 * `before` drives the whole session and records what it saw; each test below asserts one thing,
 * so a missing runbook behaviour fails its own test while the rest still report.
 * Screenshots of every stage: test/.artifacts/ui/ (git-ignored). Needs `npm run build`.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { type Browser, type BrowserContext, chromium } from "playwright-core";
import { Client as PgClient } from "pg";
import { CHROMIUM_ARGS, findChromium } from "../../lib/clients/payer";
import { JOURNAL_FILE, REPORT_FILE, TRACE_FILE } from "../../lib/evidence/files";
import { readNotebook, sourceOf } from "../../lib/host/nbfile";
import { startSandbox, type Sandbox } from "../../sandbox/index";
import { prepareSession } from "../../lib/host/prepare";
import { TEST_CARDS } from "../../sandbox/test-cards";
import { scratchDocs } from "../../scripts/rehearse";
import { JUPYTER_BIN, type Lab, REPO, startJupyterLab } from "./jupyterlab";
import { LabNotebook, sleep, until } from "./lab-page";
import { lapsText, openToPreflight, P6_CELLS, recordP6 } from "./p6";

const ARTIFACTS = path.join(REPO, "test", ".artifacts", "ui");
const WORK = path.join(ARTIFACTS, "work");

/** How long the sandbox holds the order in `processing` after the checkout: step 5 is mid-poll meanwhile. */
const COMPLETION_DELAY_MS = 30_000;
const POLL_DEADLINE_S = 60;

// The cells, by a piece of their source (the template is generated from the step table).
const CELL = {
  ...P6_CELLS,
  login: 'nb.run("login")',
  product: 'nb.run("product")',
  order: 'nb.run("order")',
  pay: "await nb.pay()",
  paid: "nb.paid(",
  completed: 'nb.run("completed")',
  licence: 'nb.run("licence")',
  transfer: 'nb.run("transfer")',
  refund: 'nb.run("refund")',
  refunded: 'nb.run("refunded")',
  plot: "nb.plot()",
  report: "nb.report()",
} as const;
const STEP_CELLS = Object.entries(CELL).filter(([k]) => !["params", "injected", "open"].includes(k));

const chromiumPath = findChromium();
const missing = !chromiumPath
  ? "Chromium is not installed (apt-get install chromium)"
  : !fs.existsSync(JUPYTER_BIN)
    ? ".venv/bin/jupyter is missing (the project venv with JupyterLab: scripts/setup.sh)"
    : null;
const skip = missing && !process.env.CI ? missing : false;

/** Everything the drive saw, for the assertions. */
interface Seen {
  dir: string;
  notebook: string;
  p6Ms: number;
  p6Laps: string;
  preflight: string;
  paidBefore: { output: string; linkStillShown: boolean; journalStep4Pass: boolean; confirmed: boolean };
  payLinkHost: string;
  checkout: { status: string; last4: string; connector: string; at: string };
  paidAfter: string;
  midPoll: { output: string; orderStatus: string; traceLines: number };
  interrupted: {
    output: string;
    outputs: { mime: string; text: string }[];
    sizes: { ms: number; bytes: number }[];
    clickedAt: number;
  };
  rerun: { output: string; startedAt: string };
  restart: { dialog: string; at: string; statuses: Record<string, string> };
}

async function query<T>(dsn: string, text: string): Promise<T[]> {
  const c = new PgClient({ connectionString: dsn });
  c.on("error", () => undefined);
  await c.connect();
  try {
    return (await c.query(text)).rows as T[];
  } finally {
    await c.end().catch(() => undefined);
  }
}

const journal = (dir: string) =>
  fs
    .readFileSync(path.join(dir, JOURNAL_FILE), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { seq: number; at: string; kind: string; data: Record<string, any> });

const stepResults = (dir: string, step: number) =>
  journal(dir).filter((e) => e.kind === "step_result" && Number(e.data.step) === step);

const lineCount = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter(Boolean).length : 0);
const size = (f: string) => (fs.existsSync(f) ? fs.statSync(f).size : 0);

const STACK_FRAME = /^\s*at\s+\S.*(\(.*:\d+:\d+\)|:\d+:\d+)\s*$/m;
const isPass = (text: string) => /✅\s*PASS/.test(text);
/** A cell's output quoted for a failure message (indented, so the runner does not take "at …" lines for a stack). */
const quote = (text: string) =>
  text
    .split("\n")
    .map((l) => `    | ${l}`)
    .join("\n");

describe("the operator path in real JupyterLab", { skip, timeout: 12 * 60 * 1000 }, () => {
  let sb: Sandbox | undefined;
  let lab: Lab | undefined;
  let browser: Browser | undefined;
  let ctx: BrowserContext | undefined;
  const seen = {} as Seen;

  before(
    async () => {
      if (missing) throw new Error(`CI is set, so this test must run, but ${missing}`);
      fs.rmSync(WORK, { recursive: true, force: true });
      for (const f of fs.existsSync(ARTIFACTS) ? fs.readdirSync(ARTIFACTS) : [])
        if (f.endsWith(".png")) fs.rmSync(path.join(ARTIFACTS, f));
      fs.mkdirSync(WORK, { recursive: true });

      sb = await startSandbox({
        quiet: true,
        databaseUrl: process.env.TEST_PG_URL || undefined,
        faults: { completionDelayMs: COMPLETION_DELAY_MS, refundDelayMs: 1500 },
      });
      const prep = prepareSession(
        "sandbox",
        {
          BASE_URL: sb.marketplaceUrl,
          HYPERSWITCH_URL: sb.hyperswitchUrl,
          OPERATOR_EMAIL: sb.operator.email,
          REFUND: true,
          POLL_DEADLINE_S,
          REFUND_DEADLINE_S: POLL_DEADLINE_S,
          DOCS_DIR: scratchDocs(path.join(WORK, "docs")),
        },
        { archiveDir: path.join(WORK, "archive") },
      );
      seen.dir = prep.dir;
      seen.notebook = prep.notebook;

      lab = await startJupyterLab({
        root: REPO,
        home: path.join(WORK, "lab"),
        env: {
          OPERATOR_PASSWORD: sb.operator.password,
          DATABASE_URL: sb.readonlyDsn,
          HYPERSWITCH_API_KEY: sb.apiKey,
        },
      });
      browser = await chromium.launch({ executablePath: chromiumPath!, headless: true, args: CHROMIUM_ARGS });
      ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
      const page = await ctx.newPage();
      const nb = new LabNotebook(page, ARTIFACTS);
      try {
        await drive(nb, ctx, sb, lab, seen);
      } catch (err) {
        await nb.screenshot("failure");
        (err as Error).message += `\n--- jupyter lab (last lines) ---\n${lab.log().slice(-2000)}`;
        throw err;
      }
    },
    { timeout: 10 * 60 * 1000 },
  );

  after(async () => {
    await ctx?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await lab?.stop().catch(() => undefined);
    await sb?.stop().catch(() => undefined);
  });

  test("P6: the pre-flight result shows after opening the notebook and running the first cells", () => {
    console.log(`P6 open→preflight: ${seen.p6Ms} ms`);
    console.log(`(P6 laps: ${seen.p6Laps})`);
    assert.ok(isPass(seen.preflight), `pre-flight did not pass:\n${quote(seen.preflight)}`);
  });

  test("the paid cell run before paying is not a PASS and journals no payment", () => {
    const p = seen.paidBefore;
    assert.ok(!isPass(p.output), `the paid cell passed before paying:\n${quote(p.output)}`);
    assert.ok(!p.journalStep4Pass, "a step-4 PASS was journaled before paying");
    assert.ok(!p.confirmed, "a payment confirmation was journaled before paying");
  });

  test("the paid cell run before paying says 'not paid yet' and the payment link stays", () => {
    const p = seen.paidBefore;
    assert.match(
      p.output,
      /not paid yet\b.*: pay at .+, then run this cell again/,
      `want "not paid yet: pay at <link>, then run this cell again"; the paid cell showed:\n${quote(p.output)}`,
    );
    assert.ok(p.linkStillShown, "the step-4 payment link was taken away by the premature paid cell");
  });

  test("paid by hand in a second tab; the paid cell with last 4 and processor then PASSes", () => {
    assert.equal(seen.checkout.status, "processing");
    assert.equal(seen.checkout.last4, "4242");
    assert.ok(seen.checkout.connector, "the checkout names its processor");
    assert.ok(isPass(seen.paidAfter), `paid cell after paying:\n${quote(seen.paidAfter)}`);
  });

  test("step 5 was interrupted mid-poll: one clear line, no stack trace", () => {
    assert.match(seen.midPoll.output, /⏳ step 5 · attempt \d+/, quote(seen.midPoll.output));
    assert.notEqual(seen.midPoll.orderStatus, "completed");
    const out = seen.interrupted.output;
    assert.ok(!STACK_FRAME.test(out), `stack trace in the interrupted cell:\n${quote(out)}`);
    // tslab reports the interrupt on stderr; what it prints there must be one line, not a trace.
    const errLines = seen.interrupted.outputs
      .filter((o) => o.mime === "application/vnd.jupyter.stderr")
      .flatMap((o) => o.text.split("\n"))
      .filter((l) => l.trim());
    assert.ok(errLines.length <= 1, `${errLines.length} lines on stderr:\n${quote(errLines.join("\n"))}`);
    assert.ok(
      out.split("\n").some((l) => /interrupted/i.test(l) && /step 5/.test(l)),
      `no line says step 5 was interrupted:\n${quote(out)}`,
    );
  });

  test("after the interrupt the trace stops growing within a couple of seconds", () => {
    const s = seen.interrupted.sizes;
    const settled = s.filter((x) => x.ms >= 2500);
    const grew = settled.filter((x, i) => i > 0 && x.bytes !== settled[i - 1].bytes);
    const timeline = s
      .filter((_, i) => i % 5 === 0)
      .map((x) => `${x.ms} ms: ${x.bytes} B`)
      .join(", ");
    assert.equal(grew.length, 0, `trace.jsonl still grew ${grew[0]?.ms} ms after ■ (${timeline})`);
  });

  test("step 5 re-run after the order completed PASSes with a fresh progress line", () => {
    const out = seen.rerun.output;
    assert.ok(isPass(out), `step 5 re-run:\n${quote(out)}`);
    const at = /⏳ step 5 · attempt \d+ · (\S+)/.exec(out)?.[1];
    assert.ok(at, `no progress line in the re-run:\n${quote(out)}`);
    assert.ok(
      Date.parse(at!) >= Date.parse(seen.rerun.startedAt),
      `progress line from ${at}, re-run at ${seen.rerun.startedAt}`,
    );
  });

  test("after Restart Kernel and Run All, every step PASSes (step 1 logs in again)", () => {
    assert.match(seen.restart.dialog, /restart/i);
    for (const [name, text] of Object.entries(seen.restart.statuses).filter(
      ([k]) => !["pay", "plot", "report"].includes(k),
    ))
      assert.ok(isPass(text), `${name}: ${text}`);
  });

  test("after the restart step 1 logged in again (a fresh result, not a resumed one)", () => {
    const login = stepResults(seen.dir, 1).at(-1);
    assert.ok(login, "no step-1 result in the journal");
    assert.equal(login!.data.status, "PASS");
    assert.ok(
      login!.data.startedAt >= seen.restart.at,
      `latest login started ${login!.data.startedAt}, before the restart`,
    );
    assert.ok(!("resumed" in (login!.data.observed ?? {})), JSON.stringify(login!.data.observed));
  });

  test("the saved notebook holds none of the run's secrets", () => {
    const text = fs.readFileSync(seen.notebook, "utf8");
    const secrets = {
      OPERATOR_PASSWORD: sb!.operator.password,
      HYPERSWITCH_API_KEY: sb!.apiKey,
      "webhook secret": sb!.webhookSecret,
      "DATABASE_URL password": decodeURIComponent(new URL(sb!.readonlyDsn).password),
    };
    for (const [name, value] of Object.entries(secrets))
      if (value) assert.ok(!text.includes(value), `${name} is in the saved notebook`);
  });

  test("the saved notebook ends with the report and every step cell has an output", () => {
    const nb = readNotebook(seen.notebook);
    const code = nb.cells.filter((c) => c.cell_type === "code");
    for (const [name, needle] of STEP_CELLS) {
      const c = code.find((x) => sourceOf(x).includes(needle));
      assert.ok(c, `cell ${name} in the saved notebook`);
      assert.ok((c!.outputs ?? []).length > 0, `cell ${name} has no output in the saved notebook`);
    }
    const last = nb.cells[nb.cells.length - 1];
    assert.ok(
      last.cell_type === "code" && sourceOf(last).includes(CELL.report),
      "the notebook's last cell is the report",
    );
    assert.match(JSON.stringify(last.outputs), /Outcome: /);
  });

  test("the journal: exactly one step-5 PASS, no step-4 PASS before the payment was made", () => {
    const five = stepResults(seen.dir, 5).filter((e) => e.data.status === "PASS");
    assert.equal(five.length, 1, `step-5 PASS results: ${five.map((e) => e.at).join(", ")}`);
    const early = stepResults(seen.dir, 4).filter((e) => e.data.status === "PASS" && e.at < seen.checkout.at);
    assert.deepEqual(early, []);
    const confirmed = journal(seen.dir).filter((e) => e.kind === "payment_confirmed");
    assert.equal(confirmed.length, 1);
    assert.ok(confirmed[0].at >= seen.checkout.at);
    assert.equal(confirmed[0].data.last4, "4242");
  });

  test("report.md is written with all nine steps", () => {
    const f = path.join(seen.dir, REPORT_FILE);
    assert.ok(fs.existsSync(f), "report.md in the session folder");
    const text = fs.readFileSync(f, "utf8");
    for (let n = 1; n <= 9; n++) assert.match(text, new RegExp(`\\| ${n}\\. [^|]+\\| ✅ PASS`), `step ${n} row`);
  });

  test("the sandbox database holds exactly one order and one refund", async () => {
    const c = await sb!.counts();
    assert.equal(c.orders, 1);
    assert.equal(c.payments, 1);
    assert.equal(c.refunds, 1);
    const rows = await query<{ status: string }>(sb!.adminDsn, "SELECT status FROM orders");
    assert.deepEqual(
      rows.map((r) => r.status),
      ["refunded"],
    );
  });
});

/** The operator's session, start to end. Throws only when the driving itself fails. */
async function drive(nb: LabNotebook, ctx: BrowserContext, sb: Sandbox, lab: Lab, seen: Seen): Promise<void> {
  const page = nb.page;
  const trace = path.join(seen.dir, TRACE_FILE);

  // Open → pre-flight (P6, recorded for the bench in test/.artifacts/ui/p6.json) -------------------
  const p6 = await openToPreflight(nb, lab, seen.notebook, "npm run test:ui");
  recordP6(p6);
  seen.preflight = p6.preflight;
  seen.p6Ms = p6.ms;
  seen.p6Laps = lapsText(p6.laps);
  await nb.screenshotAt(await nb.cell(CELL.preflight), "preflight");

  // Steps 1–4 (pay shows the link) ---------------------------------------------------------------
  for (const k of ["login", "product", "order"] as const) {
    const out = await nb.run(await nb.cell(CELL[k]), 60_000);
    if (!isPass(out)) throw new Error(`step cell ${k} did not pass:\n${quote(out)}`);
  }
  const payCell = await nb.cell(CELL.pay);
  await nb.run(payCell, 60_000);
  const link = payCell.locator("a", { hasText: /Pay .* on the hosted checkout/ });
  await link.waitFor({ timeout: 10_000 });
  await nb.screenshotAt(payCell, "pay-link");

  // The paid cell before paying ------------------------------------------------------------------
  const paidCell = await nb.cell(CELL.paid);
  const paidBefore = await nb.run(paidCell, 60_000);
  const j4 = journal(seen.dir);
  seen.paidBefore = {
    output: paidBefore,
    linkStillShown: (await link.count()) === 1,
    journalStep4Pass: j4.some((e) => e.kind === "step_result" && e.data.step === 4 && e.data.status === "PASS"),
    confirmed: j4.some((e) => e.kind === "payment_confirmed"),
  };
  await nb.screenshotAt(paidCell, "paid-before-paying");

  // Pay by hand in a second tab ------------------------------------------------------------------
  if ((await link.count()) === 0) {
    // The premature paid cell took the link away: an operator runs the pay cell again for a fresh one.
    await nb.run(payCell, 60_000);
    await link.waitFor({ timeout: 10_000 });
  }
  const [checkout] = await Promise.all([ctx.waitForEvent("page", { timeout: 15_000 }), link.click()]);
  await checkout.waitForLoadState("domcontentloaded");
  seen.payLinkHost = new URL(checkout.url()).host;
  const card = TEST_CARDS.find((c) => c.last4 === "4242")!;
  await checkout.fill("#card_number", card.number);
  await checkout.fill("#expiry", `12/${String((new Date().getUTCFullYear() + 3) % 100).padStart(2, "0")}`);
  await checkout.fill("#cvc", "123");
  if (await checkout.locator("#holder").count()) await checkout.fill("#holder", "E2E Operator");
  await nb.screenshot("checkout-filled", checkout);
  await Promise.all([checkout.waitForSelector("#result", { timeout: 20_000 }), checkout.click("button#pay")]);
  seen.checkout = {
    status: (await checkout.getAttribute("#result", "data-status")) ?? "?",
    last4: ((await checkout.textContent("#last4")) ?? "").trim(),
    connector: ((await checkout.textContent("#connector")) ?? "").trim(),
    at: new Date().toISOString(),
  };
  await nb.screenshot("checkout-result", checkout);
  await checkout.close();
  await page.bringToFront();

  // The paid cell, filled in ---------------------------------------------------------------------
  const src = await nb.source(paidCell);
  await nb.edit(
    paidCell,
    src
      .replace(/last4:\s*"[^"]*"/, `last4: "${seen.checkout.last4}"`)
      .replace(/processor:\s*"[^"]*"/, `processor: "${seen.checkout.connector}"`),
  );
  seen.paidAfter = await nb.run(paidCell, 60_000);
  await nb.screenshotAt(paidCell, "paid");

  // Step 5: interrupt mid-poll -----------------------------------------------------------------
  const five = await nb.cell(CELL.completed);
  const before5 = await nb.start(five);
  seen.midPoll = await until("step 5 polling (progress line at attempt ≥ 3)", 30_000, async () => {
    const out = await nb.outputText(five);
    const m = /⏳ step 5 · attempt (\d+)/.exec(out);
    return m && Number(m[1]) >= 3 ? { output: out, orderStatus: "", traceLines: lineCount(trace) } : undefined;
  });
  seen.midPoll.orderStatus = (await query<{ status: string }>(sb.adminDsn, "SELECT status FROM orders"))[0].status;
  await nb.screenshotAt(five, "step5-mid-poll");
  const clickedAt = performance.now();
  await nb.interrupt();
  const sizes: { ms: number; bytes: number }[] = [];
  await nb.finished(five, before5, 30_000);
  while (performance.now() - clickedAt < 6_000) {
    sizes.push({ ms: Math.round(performance.now() - clickedAt), bytes: size(trace) });
    await sleep(100);
  }
  seen.interrupted = {
    output: await nb.outputText(five),
    outputs: await nb.outputs(five),
    sizes,
    clickedAt,
  };
  await nb.screenshotAt(five, "step5-interrupted");

  // Let the order complete, then re-run step 5 ---------------------------------------------------
  await until(
    "the sandbox completes the order",
    COMPLETION_DELAY_MS + 60_000,
    async () => {
      const [o] = await query<{ status: string }>(sb.adminDsn, "SELECT status FROM orders");
      return o?.status === "completed" ? true : undefined;
    },
    500,
  );
  await nb.waitKernelIdle(30_000);
  seen.rerun = { startedAt: new Date().toISOString(), output: "" };
  seen.rerun.output = await nb.run(five, (POLL_DEADLINE_S + 30) * 1000);
  await nb.screenshotAt(five, "step5-rerun");

  // Kernel > Restart Kernel and Run All Cells, then Ctrl+S ---------------------------------------
  const cells = nb.codeCells();
  const n = await cells.count();
  const lastBefore = await nb.prompt(cells.nth(n - 1));
  await nb.kernelMenu(/^Restart Kernel and Run All Cells/);
  seen.restart = { at: new Date().toISOString(), dialog: await nb.acceptDialog(), statuses: {} };
  await until(
    "Run All finished (every cell numbered, report cell re-run, kernel idle)",
    5 * 60_000,
    async () => {
      const prompts = await cells.locator(".jp-InputPrompt").allTextContents();
      const done = prompts.every((p) => /^\[\d+\]:$/.test(p.trim()));
      if (!done || prompts[n - 1].trim() === lastBefore.trim()) return undefined;
      return (await nb.kernelStatus()) === "idle" ? true : undefined;
    },
    250,
  );
  await nb.waitKernelIdle(30_000, 1_000);
  for (const [name, needle] of STEP_CELLS) seen.restart.statuses[name] = await nb.outputText(await nb.cell(needle));
  await nb.screenshotAt(await nb.cell(CELL.report), "run-all-report");
  const mtime = fs.statSync(seen.notebook).mtimeMs;
  await nb.save();
  await until("the notebook file is rewritten", 20_000, async () =>
    fs.statSync(seen.notebook).mtimeMs > mtime ? true : undefined,
  );
  await nb.screenshot("saved");
}
