/**
 * Issue 22 item 6 in a real browser: headless Chromium drives real JupyterLab (the project's tslab
 * kernel) against the sandbox. Every cell runs with Shift+Enter (the headless payer pays the local
 * double), then File › Close and Shut Down without saving: JupyterLab discards the outputs without
 * asking. `npm run archive` must then refuse, naming the missing outputs, and `--restore-outputs`
 * must put back the kernel's copy (outputs.jsonl) and seal; `npm run verify` then passes.
 * Screenshots: test/.artifacts/ui/close-unsaved/ (git-ignored). Needs `npm run build`.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { type Browser, type BrowserContext, chromium } from "playwright-core";
import { CHROMIUM_ARGS, findChromium } from "../../lib/clients/payer";
import { MANIFEST_FILE, OUTPUTS_FILE, SESSION_LOCK_FILE, TRACE_FILE } from "../../lib/evidence/files";
import { readNotebook, sourceOf } from "../../lib/host/nbfile";
import { prepareSession } from "../../lib/host/prepare";
import { startSandbox, type Sandbox } from "../../sandbox/index";
import { scratchDocs } from "../../scripts/rehearse";
import { JUPYTER_BIN, type Lab, REPO, startJupyterLab } from "./jupyterlab";
import { LabNotebook, until } from "./lab-page";
import { openToPreflight } from "./p6";

const ARTIFACTS = path.join(REPO, "test", ".artifacts", "ui", "close-unsaved");
const WORK = path.join(ARTIFACTS, "work");
const AFTER_PREFLIGHT = [
  'nb.run("login")',
  'nb.run("product")',
  'nb.run("order")',
  "await nb.pay()",
  "nb.paid(",
  'nb.run("completed")',
  'nb.run("licence")',
  'nb.run("transfer")',
  'nb.run("refund")',
  'nb.run("refunded")',
  "nb.plot()",
  "nb.report()",
];

const chromiumPath = findChromium();
const missing = !chromiumPath
  ? "Chromium is not installed (apt-get install chromium)"
  : !fs.existsSync(JUPYTER_BIN)
    ? ".venv/bin/jupyter is missing (the project venv with JupyterLab: scripts/setup.sh)"
    : null;
const skip = missing && !process.env.CI ? missing : false;

const cli = (name: string, ...args: string[]) => {
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(REPO, "lib", "cli", `${name}.ts`), ...args], {
    cwd: REPO,
    encoding: "utf8",
    timeout: 180_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

interface Seen {
  dir: string;
  notebook: string;
  report: string;
  outputsShown: number;
  savedOutputs: number;
  lockGone: boolean;
  dialog: string;
}

describe("Close and Shut Down without saving, then archive (real JupyterLab)", {
  skip,
  timeout: 12 * 60 * 1000,
}, () => {
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
        faults: { completionDelayMs: 300, refundDelayMs: 300 },
      });
      const prep = prepareSession(
        "sandbox",
        {
          BASE_URL: sb.marketplaceUrl,
          HYPERSWITCH_URL: sb.hyperswitchUrl,
          OPERATOR_EMAIL: sb.operator.email,
          REFUND: true,
          AUTO_PAY: "success",
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
        const p = await openToPreflight(nb, lab, prep.notebook, "close-unsaved UI test");
        assert.ok(p.passed, `pre-flight:\n${p.preflight}`);
        for (const needle of AFTER_PREFLIGHT) await nb.run(await nb.cell(needle), 180_000);
        seen.report = await nb.outputText(await nb.cell("nb.report()"));
        seen.outputsShown = await nb.panel.locator(".jp-OutputArea-output").count();
        await nb.screenshot("all-cells-run");
        // File › Close and Shut Down Notebook, without saving (JupyterLab 4 asks only to confirm the shutdown).
        await nb.page.locator(".lm-MenuBar-itemLabel", { hasText: /^File$/ }).click();
        await nb.page.locator(".lm-Menu-itemLabel", { hasText: /^Close and Shut Down Notebook/ }).click();
        const dialog = nb.page.locator(".jp-Dialog");
        if (await dialog.isVisible({ timeout: 5000 }).catch(() => false)) {
          await nb.screenshot("close-dialog");
          // JupyterLab 4.6: "Shut down the notebook?" · Cancel · Ok — no save offered. Never click a Save.
          seen.dialog = ((await dialog.textContent()) ?? "").replace(/\s+/g, " ").trim();
          const accept = dialog.locator(".jp-Dialog-button.jp-mod-accept");
          if (/save/i.test((await accept.textContent()) ?? ""))
            await dialog.locator(".jp-Dialog-button", { hasText: /discard|don.t save/i }).click();
          else await accept.click();
        }
        await until("the notebook's kernel shut down", 60_000, async () =>
          ((await lab!.api("GET", "/api/sessions")).body as unknown[]).length === 0 ? true : undefined,
        );
        seen.lockGone = await until("the session lock released", 20_000, async () =>
          fs.existsSync(path.join(prep.dir, SESSION_LOCK_FILE)) ? undefined : true,
        ).catch(() => false);
        await nb.screenshot("closed");
      } catch (err) {
        await nb.screenshot("failure");
        (err as Error).message += `\n--- jupyter lab (last lines) ---\n${lab.log().slice(-2000)}`;
        throw err;
      }
      const saved = readNotebook(prep.notebook);
      seen.savedOutputs = saved.cells.reduce((n, c) => n + (c.outputs?.length ?? 0), 0);
    },
    { timeout: 10 * 60 * 1000 },
  );

  after(async () => {
    await ctx?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await lab?.stop().catch(() => undefined);
    await sb?.stop().catch(() => undefined);
  });

  test("every cell ran in JupyterLab, and the report showed PASS", () => {
    assert.match(seen.report, /Outcome: ✅ PASS/, seen.report);
    assert.ok(seen.outputsShown >= AFTER_PREFLIGHT.length + 2, `${seen.outputsShown} outputs on screen`);
  });

  test("closed without saving: the notebook on disk has no output, the kernel's copy has them all", () => {
    console.log(`JupyterLab's close dialog: ${seen.dialog ?? "(none)"}`);
    assert.equal(seen.savedOutputs, 0, "JupyterLab discarded the outputs (nothing was saved)");
    assert.ok(seen.lockGone, "the kernel released the session lock");
    assert.ok(fs.statSync(path.join(seen.dir, OUTPUTS_FILE)).size > 0);
  });

  test("npm run archive refuses, naming the missing outputs and --restore-outputs; nothing sealed", () => {
    const r = cli("archive", seen.dir, "--docs-dir", path.join(WORK, "docs"));
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(
      r.err,
      /refused: payment-e2e\.ipynb lacks \d+ of the \d+ output\(s\) the kernel displayed \(outputs\.jsonl\), by cell: open /,
    );
    assert.match(r.err, /run:login \d+\/\d+/);
    assert.match(r.err, /--restore-outputs/);
    assert.match(r.err, /E2E_ARCHIVE_OUTPUTS/);
    assert.ok(!fs.existsSync(path.join(seen.dir, MANIFEST_FILE)));
  });

  test("--restore-outputs restores the outputs, records it, seals PASS; verify OK", () => {
    const r = cli("archive", seen.dir, "--docs-dir", path.join(WORK, "docs"), "--restore-outputs");
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /archived .*\n {2}outcome: PASS/);
    const nb = readNotebook(seen.notebook);
    const login = nb.cells.find((c) => sourceOf(c).includes('nb.run("login")'));
    assert.match(JSON.stringify(login?.outputs), /Login as buyer \| ✅ PASS/);
    assert.match(
      fs.readFileSync(path.join(seen.dir, TRACE_FILE), "utf8"),
      /outputs restored by npm run archive --restore-outputs/,
    );
    const v = cli("verify", seen.dir, "--no-anchor");
    assert.equal(v.code, 0, v.out + v.err);
    assert.match(v.out, /payment-e2e\.ipynb: shows every output the kernel displayed/);
  });
});
