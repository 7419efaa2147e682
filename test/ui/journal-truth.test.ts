/**
 * Issue 22 §3–5 in real JupyterLab (headless Chromium through playwright-core, the project's tslab
 * kernel, the sandbox): what the notebook shows and records agrees with what happened.
 * - Run All before paying, then Run All after paying with the paid cell still empty: the run stops
 *   acting at the paid cell; steps 5–7 and the refund are SKIPPED with what to do; nothing refunded.
 * - The refund cell run before step 5 (paid cell filled in): SKIPPED, naming steps 5–7 and the reason form.
 * - MAX_PRICE edited mid-session: the parameters cell re-run without the injected cell says money
 *   moved (never "no money moved"); re-opened with the injected cell, the next step cell is refused
 *   naming the change; pre-flight again records it; the run then completes and the report lists it.
 *
 * `before` drives the session and records what it saw; each test asserts one thing. Screenshots:
 * test/.artifacts/ui-journal-truth/ (git-ignored). Uses the helpers of ./lab-page.ts, ./jupyterlab.ts, ./p6.ts.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { type Browser, type BrowserContext, chromium, type Locator } from "playwright-core";
import { CHROMIUM_ARGS, findChromium } from "../../lib/clients/payer";
import { REPORT_FILE } from "../../lib/evidence/files";
import { startSandbox, type Sandbox } from "../../sandbox/index";
import { prepareSession } from "../../lib/host/prepare";
import { TEST_CARDS } from "../../sandbox/test-cards";
import { scratchDocs } from "../../scripts/rehearse";
import { JUPYTER_BIN, type Lab, REPO, startJupyterLab } from "./jupyterlab";
import { LabNotebook, until } from "./lab-page";
import { openToPreflight, P6_CELLS } from "./p6";

const ARTIFACTS = path.join(REPO, "test", ".artifacts", "ui-journal-truth");
const WORK = path.join(ARTIFACTS, "work");

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
  report: "nb.report()",
} as const;
type CellName = keyof typeof CELL;

const chromiumPath = findChromium();
const missing = !chromiumPath
  ? "Chromium is not installed (apt-get install chromium)"
  : !fs.existsSync(JUPYTER_BIN)
    ? ".venv/bin/jupyter is missing (the project venv with JupyterLab: scripts/setup.sh)"
    : null;
const skip = missing && !process.env.CI ? missing : false;

type Outputs = Partial<Record<CellName, string>>;
interface Seen {
  dir: string;
  notebook: string;
  runAllUnpaid: Outputs;
  refundsAfterUnpaid: number;
  runAllPaidEmpty: Outputs;
  refundsAfterPaidEmpty: number;
  paidFilled: string;
  refundBefore5: string;
  refundsBefore5: number;
  reopenWithoutInjected: string;
  refusedAfterEdit: string;
  preflightAgain: string;
  finish: Outputs;
  refundsAtEnd: number;
}

const isPass = (text: string) => /✅\s*PASS/.test(text);
const quote = (text = "") =>
  text
    .split("\n")
    .map((l) => `    | ${l}`)
    .join("\n");

describe("issue 22 §3–5 in real JupyterLab", { skip, timeout: 12 * 60 * 1000 }, () => {
  let sb: Sandbox | undefined;
  let lab: Lab | undefined;
  let browser: Browser | undefined;
  let ctx: BrowserContext | undefined;
  const seen = {} as Seen;

  before(
    async () => {
      if (missing) throw new Error(`CI is set, so this test must run, but ${missing}`);
      fs.rmSync(ARTIFACTS, { recursive: true, force: true });
      fs.mkdirSync(WORK, { recursive: true });
      sb = await startSandbox({
        quiet: true,
        databaseUrl: process.env.TEST_PG_URL || undefined,
        faults: { completionDelayMs: 1500, refundDelayMs: 1500 },
      });
      const prep = prepareSession(
        "sandbox",
        {
          BASE_URL: sb.marketplaceUrl,
          HYPERSWITCH_URL: sb.hyperswitchUrl,
          OPERATOR_EMAIL: sb.operator.email,
          REFUND: true,
          POLL_DEADLINE_S: 60,
          REFUND_DEADLINE_S: 60,
          DOCS_DIR: scratchDocs(path.join(WORK, "docs")),
        },
        { archiveDir: path.join(WORK, "archive") },
      );
      seen.dir = prep.dir;
      seen.notebook = prep.notebook;
      lab = await startJupyterLab({
        root: REPO,
        home: path.join(WORK, "lab"),
        env: { OPERATOR_PASSWORD: sb.operator.password, DATABASE_URL: sb.readonlyDsn, HYPERSWITCH_API_KEY: sb.apiKey },
      });
      browser = await chromium.launch({ executablePath: chromiumPath!, headless: true, args: CHROMIUM_ARGS });
      ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
      const nb = new LabNotebook(await ctx.newPage(), ARTIFACTS);
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

  test("Run All before paying: the paid cell says not paid yet, steps 5–9 SKIPPED, nothing refunded", () => {
    const o = seen.runAllUnpaid;
    assert.match(o.paid ?? "", /not paid yet/, quote(o.paid));
    for (const k of ["completed", "licence", "transfer", "refund", "refunded"] as const)
      assert.match(o[k] ?? "", /SKIPPED/, `${k}:\n${quote(o[k])}`);
    assert.equal(seen.refundsAfterUnpaid, 0);
  });

  test("Run All after paying, paid cell empty: stops acting at the paid cell; 5–7 and the refund SKIPPED with what to do", () => {
    const o = seen.runAllPaidEmpty;
    assert.match(o.paid ?? "", /FAIL/, quote(o.paid));
    assert.match(o.paid ?? "", /Money has moved/, quote(o.paid));
    for (const k of ["completed", "licence", "transfer"] as const)
      assert.match(o[k] ?? "", /SKIPPED[\s\S]*step 4 failed/, `${k}:\n${quote(o[k])}`);
    assert.match(o.refund ?? "", /SKIPPED/, quote(o.refund));
    assert.match(o.refund ?? "", /step 8 waits for steps 5, 6, 7/, quote(o.refund));
    assert.match(o.refund ?? "", /nb\.run\("refund", \{ reason: "…" \}\)/, quote(o.refund));
    assert.equal(seen.refundsAfterPaidEmpty, 0, "no refund before steps 5–7 had their chance");
  });

  test("refund before step 5 (paid cell filled in): SKIPPED naming steps 5–7, nothing refunded", () => {
    assert.ok(isPass(seen.paidFilled), quote(seen.paidFilled));
    assert.match(seen.refundBefore5, /SKIPPED/, quote(seen.refundBefore5));
    // Step 5's latest result is still Run All's SKIPPED: the refund says so and waits for it to run.
    assert.match(
      seen.refundBefore5,
      /step 5 .* was skipped .*: step 8 waits for steps 5, 6, 7/,
      quote(seen.refundBefore5),
    );
    assert.equal(seen.refundsBefore5, 0);
  });

  test("the parameters cell re-run without the injected cell: money moved, resume this session — never 'no money moved'", () => {
    const t = seen.reopenWithoutInjected;
    assert.match(t, /Cannot start/, quote(t));
    assert.doesNotMatch(t, /no money moved/i, quote(t));
    assert.match(t, /Money moved in session \S+ and has not been refunded/, quote(t));
    assert.match(t, /re-run the injected-parameters cell/, quote(t));
  });

  test("MAX_PRICE edited mid-session: the next step cell is refused naming the change; pre-flight again records it", () => {
    assert.match(
      seen.refusedAfterEdit,
      /refused \(parameters\): MAX_PRICE 5\.00 → 30\.00/,
      quote(seen.refusedAfterEdit),
    );
    assert.ok(isPass(seen.preflightAgain), quote(seen.preflightAgain));
  });

  test("then steps 5–9 PASS, one refund, and the report lists the parameters and the change", () => {
    for (const k of ["completed", "licence", "transfer", "refund", "refunded"] as const)
      assert.ok(isPass(seen.finish[k] ?? ""), `${k}:\n${quote(seen.finish[k])}`);
    assert.equal(seen.refundsAtEnd, 1);
    const report = fs.readFileSync(path.join(seen.dir, REPORT_FILE), "utf8");
    assert.match(report, /\*\*Parameters\*\* : MODE `sandbox` · .*MAX_PRICE `30\.00`/);
    assert.match(report, /operator · parameters changed since the pre-flight of .*MAX_PRICE 5\.00 → 30\.00/);
  });
});

/** Run menu > Run All Cells, then wait until every cell ran again and the kernel is idle. */
async function runAll(nb: LabNotebook): Promise<void> {
  const cells = nb.codeCells();
  const n = await cells.count();
  const lastBefore = await nb.prompt(cells.nth(n - 1));
  await nb.page.locator(".lm-MenuBar-item", { hasText: /^Run$/ }).click();
  await nb.page
    .locator(".lm-Menu-item:not(.lm-mod-disabled)", { hasText: /^Run All Cells/ })
    .first()
    .click();
  await until(
    "Run All finished (every cell numbered, the last one re-run, kernel idle)",
    5 * 60_000,
    async () => {
      const prompts = await cells.locator(".jp-InputPrompt").allTextContents();
      if (!prompts.every((p) => /^\[\d+\]:$/.test(p.trim())) || prompts[n - 1].trim() === lastBefore.trim())
        return undefined;
      return (await nb.kernelStatus()) === "idle" ? true : undefined;
    },
    250,
  );
  await nb.waitKernelIdle(30_000, 1_000);
}

async function outputsOf(nb: LabNotebook, names: readonly CellName[]): Promise<Outputs> {
  const out: Outputs = {};
  for (const k of names) out[k] = await nb.outputText(await nb.cell(CELL[k]));
  return out;
}

/** Pays the checkout behind the pay cell's link in a second tab, as an operator does. */
async function payInSecondTab(
  nb: LabNotebook,
  ctx: BrowserContext,
  payCell: Locator,
): Promise<{ last4: string; connector: string }> {
  const link = payCell.locator("a", { hasText: /Pay .* on the hosted checkout/ });
  await link.waitFor({ timeout: 10_000 });
  const [checkout] = await Promise.all([ctx.waitForEvent("page", { timeout: 15_000 }), link.click()]);
  await checkout.waitForLoadState("domcontentloaded");
  const card = TEST_CARDS.find((c) => c.last4 === "4242")!;
  await checkout.fill("#card_number", card.number);
  await checkout.fill("#expiry", `12/${String((new Date().getUTCFullYear() + 3) % 100).padStart(2, "0")}`);
  await checkout.fill("#cvc", "123");
  if (await checkout.locator("#holder").count()) await checkout.fill("#holder", "E2E Operator");
  await Promise.all([checkout.waitForSelector("#result", { timeout: 20_000 }), checkout.click("button#pay")]);
  const paid = {
    last4: ((await checkout.textContent("#last4")) ?? "").trim(),
    connector: ((await checkout.textContent("#connector")) ?? "").trim(),
  };
  await nb.screenshot("checkout-result", checkout);
  await checkout.close();
  await nb.page.bringToFront();
  return paid;
}

async function drive(nb: LabNotebook, ctx: BrowserContext, sb: Sandbox, lab: Lab, seen: Seen): Promise<void> {
  const refunds = async () => (await sb.counts()).refunds;
  const run = async (k: CellName, timeoutMs = 90_000) => nb.run(await nb.cell(CELL[k]), timeoutMs);

  // Open → pre-flight, steps 1–3, the pay cell shows the link ------------------------------------
  const p6 = await openToPreflight(nb, lab, seen.notebook, "npm run test:ui (journal-truth)");
  if (!p6.passed) throw new Error(`pre-flight did not pass:\n${quote(p6.preflight)}`);
  for (const k of ["login", "product", "order"] as const) {
    const out = await run(k);
    if (!isPass(out)) throw new Error(`step cell ${k} did not pass:\n${quote(out)}`);
  }
  const payCell = await nb.cell(CELL.pay);
  await nb.run(payCell, 60_000);

  // Run All before paying ------------------------------------------------------------------------
  await runAll(nb);
  seen.runAllUnpaid = await outputsOf(nb, ["paid", "completed", "licence", "transfer", "refund", "refunded"]);
  seen.refundsAfterUnpaid = await refunds();
  await nb.screenshotAt(await nb.cell(CELL.refund), "run-all-unpaid");

  // Pay in a second tab, then Run All with the paid cell still empty ------------------------------
  const paid = await payInSecondTab(nb, ctx, payCell);
  await runAll(nb);
  seen.runAllPaidEmpty = await outputsOf(nb, ["paid", "completed", "licence", "transfer", "refund", "refunded"]);
  seen.refundsAfterPaidEmpty = await refunds();
  await nb.screenshotAt(await nb.cell(CELL.refund), "run-all-paid-cell-empty");

  // Fill in the paid cell; the refund cell before step 5 -------------------------------------------
  const paidCell = await nb.cell(CELL.paid);
  const src = await nb.source(paidCell);
  await nb.edit(
    paidCell,
    src
      .replace(/last4:\s*"[^"]*"/, `last4: "${paid.last4}"`)
      .replace(/processor:\s*"[^"]*"/, `processor: "${paid.connector}"`),
  );
  seen.paidFilled = await nb.run(paidCell, 60_000);
  seen.refundBefore5 = await run("refund");
  seen.refundsBefore5 = await refunds();
  await nb.screenshotAt(await nb.cell(CELL.refund), "refund-before-step-5");

  // MAX_PRICE edited: the parameters cell and the session cell re-run, without the injected cell ----
  const params = await nb.cell(CELL.params);
  const psrc = await nb.source(params);
  await nb.edit(params, psrc.replace(/let MAX_PRICE = "[^"]*";/, 'let MAX_PRICE = "30.00";'));
  await nb.run(params, 60_000);
  seen.reopenWithoutInjected = await run("open");
  await nb.screenshotAt(await nb.cell(CELL.open), "reopen-without-injected");
  // …then with it: the session opens with the new MAX_PRICE, and the next step cell is refused.
  await run("injected");
  await run("open");
  seen.refusedAfterEdit = await run("completed");
  await nb.screenshotAt(await nb.cell(CELL.completed), "refused-after-edit");
  seen.preflightAgain = await run("preflight");

  // The run goes on: 5–9, then the report ---------------------------------------------------------
  seen.finish = {};
  for (const k of ["completed", "licence", "transfer", "refund", "refunded"] as const) seen.finish[k] = await run(k);
  seen.refundsAtEnd = await refunds();
  await run("report", 120_000);
  await nb.screenshotAt(await nb.cell(CELL.report), "report");
}
