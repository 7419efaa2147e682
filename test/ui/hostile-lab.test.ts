/**
 * Issue 25 §2 in a real browser: a live kernel's outputs are trusted by JupyterLab, so its Markdown
 * is rendered with raw HTML. Here the sandbox's product titles, the refund error (a hostile 422
 * from a proxy in front of the marketplace, as in test/e2e/hostile.test.ts) and OPERATOR_NOTES carry
 * the forms the first escaper missed (HTML inside a code span, HTML after a blank line inside one,
 * `javascript:` with parentheses two deep) plus `<svg onload>`, `<iframe srcdoc>` and plain tags.
 * The whole runbook runs cell by cell in JupyterLab (the checkout paid by hand in a second tab);
 * then the rendered output area must hold no element with an `on*` attribute, no script, iframe,
 * object or embed, no `javascript:` link, and the page must have seen no dialog and no page error,
 * while the texts show literally. A last cell then displays one raw `<img onerror>` through tslab
 * directly (bypassing the runbook's sink): it must run, which shows this harness can see a payload
 * run. Screenshots: test/.artifacts/ui/hostile/. Needs `npm run build` (prepareSession runs it).
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import pg from "pg";
import { CHROMIUM_ARGS, findChromium } from "../../lib/clients/payer";
import { REPORT_FILE } from "../../lib/evidence/files";
import { prepareSession } from "../../lib/host/prepare";
import { startSandbox, type Sandbox } from "../../sandbox/index";
import { TEST_CARDS } from "../../sandbox/test-cards";
import { scratchDocs } from "../../scripts/rehearse";
import { faultyProxy } from "../faults/harness";
import { problems } from "../report/hostile-corpus";
import { JUPYTER_BIN, type Lab, REPO, startJupyterLab } from "./jupyterlab";
import { LabNotebook, payInSecondTab, until } from "./lab-page";
import { openToPreflight } from "./p6";

const ARTIFACTS = path.join(REPO, "test", ".artifacts", "ui", "hostile");
const WORK = path.join(ARTIFACTS, "work");

/** Every payload either calls alert (a dialog) or pushes to window.__pwned. */
const MARK = (id: string) => `(window.__pwned=window.__pwned||[]).push('${id}')`;
const TITLE = `<img src=x onerror="${MARK("title-img")}"> E2E \`<img src=x onerror="${MARK("title-code")}">\` [t](javascript:alert((document.title)))`;
const ERROR = `refund refused <img src=x onerror="alert('error-img')"> \`a\n\n<img src=x onerror="${MARK("error-code")}">\` [c](javascript:alert((2)))`;
const NOTES = `<svg onload="${MARK("notes-svg")}"></svg> <iframe srcdoc="<script>parent.alert('notes-iframe')</script>"></iframe> [n](javascript:alert((3))) \`x\n\n<img src=x onerror="${MARK("notes-code")}">\` <script>alert('notes-script')</script>`;

const isRefund = (m: string, u: string) => m === "POST" && /^\/api\/v1\/orders\/[^/]+\/refund$/.test(u.split("?")[0]);

const CELLS = [
  ["login", 'nb.run("login")'],
  ["product", 'nb.run("product")'],
  ["order", 'nb.run("order")'],
] as const;
const AFTER_PAID = [
  ["completed", 'nb.run("completed")'],
  ["licence", 'nb.run("licence")'],
  ["transfer", 'nb.run("transfer")'],
  ["refund", 'nb.run("refund")'],
  ["refunded", 'nb.run("refunded")'],
  ["plot", "nb.plot()"],
  ["report", "nb.report()"],
] as const;

const chromiumPath = findChromium();
const missing = !chromiumPath
  ? "Chromium is not installed (apt-get install chromium)"
  : !fs.existsSync(JUPYTER_BIN)
    ? ".venv/bin/jupyter is missing (the project venv with JupyterLab: scripts/setup.sh)"
    : null;
const skip = missing && !process.env.CI ? missing : false;

/** What the rendered output area of the notebook on screen holds (counted in the page). */
interface Rendered {
  outputs: number;
  handlers: string[];
  scripts: number;
  frames: number;
  javascriptLinks: string[];
  links: number;
  pwned: string[];
  text: string;
}

async function rendered(page: Page): Promise<Rendered> {
  return page.evaluate(() => {
    const doc = (globalThis as any).document;
    const panel = doc.querySelector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook");
    const outs = [...panel.querySelectorAll(".jp-OutputArea-output")] as any[];
    const r = {
      outputs: outs.length,
      handlers: [] as string[],
      scripts: 0,
      frames: 0,
      javascriptLinks: [] as string[],
      links: 0,
      pwned: [...((globalThis as any).__pwned ?? [])] as string[],
      // biome-ignore lint/performance/useDomNodeTextContent: what a person reads, line breaks included
      text: outs.map((o) => o.innerText).join("\n"),
    };
    for (const o of outs)
      for (const el of [...o.querySelectorAll("*")] as any[]) {
        const tag = el.tagName.toLowerCase();
        for (const a of [...el.attributes] as any[]) if (/^on/i.test(a.name)) r.handlers.push(`${tag}[${a.name}]`);
        if (tag === "script") r.scripts++;
        if (["iframe", "object", "embed", "frame"].includes(tag)) r.frames++;
        if (tag === "a") {
          r.links++;
          const href = String(el.getAttribute("href") ?? "").replace(/[\s\u0000-\u001f]/g, "");
          if (/^(javascript|vbscript|data):/i.test(href)) r.javascriptLinks.push(href);
        }
      }
    return r;
  });
}

describe("hostile backend and operator text in real JupyterLab, as trusted live-kernel outputs", {
  skip,
  timeout: 10 * 60 * 1000,
}, () => {
  let sb: Sandbox | undefined;
  let proxy: Awaited<ReturnType<typeof faultyProxy>> | undefined;
  let lab: Lab | undefined;
  let browser: Browser | undefined;
  let ctx: BrowserContext | undefined;
  const dialogs: string[] = [];
  const pageErrors: string[] = [];
  const statuses: Record<string, string> = {};
  let dir = "";
  let seen: Rendered | undefined;
  let control: Rendered | undefined;

  before(
    async () => {
      if (missing) throw new Error(`CI is set, so this test must run, but ${missing}`);
      fs.rmSync(ARTIFACTS, { recursive: true, force: true });
      fs.mkdirSync(WORK, { recursive: true });
      sb = await startSandbox({
        quiet: true,
        databaseUrl: process.env.TEST_PG_URL || undefined,
        faults: { completionDelayMs: 100, refundDelayMs: 100 },
      });
      const db = new pg.Client({ connectionString: sb.adminDsn });
      await db.connect();
      try {
        // Every title turns hostile, so whichever product is picked carries it.
        await db.query("UPDATE products SET title = $1 || ' ' || title", [TITLE]);
      } finally {
        await db.end();
      }
      proxy = await faultyProxy(sb.marketplaceUrl, (m, u) =>
        isRefund(m, u) ? { answer: 422, json: { success: false, error: ERROR, code: "REFUND_REFUSED" } } : "pass",
      );
      const prep = prepareSession(
        "sandbox",
        {
          BASE_URL: proxy.url,
          HYPERSWITCH_URL: sb.hyperswitchUrl,
          OPERATOR_EMAIL: sb.operator.email,
          REFUND: true,
          POLL_DEADLINE_S: 60,
          REFUND_DEADLINE_S: 60,
          OPERATOR_NOTES: NOTES,
          DOCS_DIR: scratchDocs(path.join(WORK, "docs")),
        },
        { archiveDir: path.join(WORK, "archive") },
      );
      dir = prep.dir;
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
      page.on("dialog", (d) => {
        dialogs.push(`${d.type()}: ${d.message()}`);
        d.dismiss().catch(() => undefined);
      });
      // JupyterLab's debugger extension asks every kernel for a session; tslab has none. Its own noise.
      page.on("pageerror", (e) => {
        if (!/^Error: No active debugger session$/.test(String(e))) pageErrors.push(String(e));
      });
      const nb = new LabNotebook(page, ARTIFACTS);
      try {
        const p6 = await openToPreflight(nb, lab, prep.notebook, "hostile-lab");
        statuses.preflight = p6.preflight;
        for (const [k, needle] of CELLS) statuses[k] = await nb.run(await nb.cell(needle), 60_000);
        const payCell = await nb.cell("await nb.pay()");
        await nb.run(payCell, 60_000);
        const link = payCell.locator("a", { hasText: /Pay .* on the hosted checkout/ });
        await link.waitFor({ timeout: 10_000 });
        const card = TEST_CARDS.find((c) => c.last4 === "4242")!;
        const paid = await payInSecondTab(ctx, link, card);
        await page.bringToFront();
        const paidCell = await nb.cell("nb.paid(");
        const src = await nb.source(paidCell);
        await nb.edit(
          paidCell,
          src
            .replace(/last4:\s*"[^"]*"/, `last4: "${paid.last4}"`)
            .replace(/processor:\s*"[^"]*"/, `processor: "${paid.connector}"`),
        );
        statuses.paid = await nb.run(paidCell, 60_000);
        for (const [k, needle] of AFTER_PAID) statuses[k] = await nb.run(await nb.cell(needle), 120_000);
        await nb.waitKernelIdle(30_000, 1_000);
        await nb.screenshotAt(await nb.cell("nb.report()"), "report");
        seen = await rendered(page);

        // The control: one raw tag displayed by tslab itself, past the runbook's sink.
        const n = await nb.codeCells().count();
        await nb.select(nb.codeCells().nth(n - 1));
        await page.keyboard.press("b");
        // By index: Shift+Enter on the last cell adds yet another one below it.
        const fresh = nb.codeCells().nth(n);
        await nb.edit(fresh, `tslab.display.markdown(\`control <img src=x onerror="${MARK("control")}">\`);`);
        await nb.run(fresh, 60_000);
        control = await until("the control's handler ran", 10_000, async () => {
          const r = await rendered(page);
          return r.pwned.includes("control") ? r : undefined;
        }).catch(() => rendered(page));
        await nb.screenshotAt(fresh, "control");
      } catch (err) {
        await nb.screenshot("failure");
        (err as Error).message += `\n--- jupyter lab (last lines) ---\n${lab.log().slice(-2000)}`;
        throw err;
      }
    },
    { timeout: 8 * 60 * 1000 },
  );

  after(async () => {
    await ctx?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await lab?.stop().catch(() => undefined);
    await proxy?.close().catch(() => undefined);
    await sb?.stop().catch(() => undefined);
  });

  test("the hostile texts reached the notebook: the product picked, the refund refused with the error", () => {
    assert.match(statuses.product, /✅\s*PASS/, statuses.product);
    assert.match(statuses.paid, /✅\s*PASS/, statuses.paid);
    assert.match(statuses.refund, /FAIL/, statuses.refund);
    assert.ok(
      proxy!.acted.some((a) => typeof a === "object"),
      "the refund met the hostile answer",
    );
  });

  test("no script ran and no javascript: link rendered in the outputs: 0 handlers, scripts, frames, links to script, dialogs, page errors", () => {
    assert.ok(seen, "the outputs were read");
    console.log(
      `outputs ${seen!.outputs}, links ${seen!.links}, on* ${seen!.handlers.length}, scripts ${seen!.scripts}, frames ${seen!.frames}, javascript: links ${seen!.javascriptLinks.length}, dialogs ${dialogs.length}, page errors ${pageErrors.length}`,
    );
    assert.ok(seen!.outputs > 10, `only ${seen!.outputs} outputs`);
    assert.deepEqual(seen!.handlers, [], "elements with on* attributes");
    assert.equal(seen!.scripts, 0, "script elements");
    assert.equal(seen!.frames, 0, "iframe/object/embed elements");
    assert.deepEqual(seen!.javascriptLinks, [], "javascript:/data:/vbscript: links");
    assert.deepEqual(seen!.pwned, [], "payloads that ran");
    assert.deepEqual(dialogs, [], "dialogs");
    assert.deepEqual(pageErrors, [], "page errors");
  });

  test("the operator reads the texts literally: the title, the refund error and the notes", () => {
    const text = seen!.text.replace(/\s+/g, " ");
    for (const [name, t] of [
      ["title", `<img src=x onerror="${MARK("title-img")}"> E2E`],
      ["title's code span", `\`<img src=x onerror="${MARK("title-code")}">\``],
      ["title's link", "[t](javascript:alert((document.title)))"],
      ["refund error", `refund refused <img src=x onerror="alert('error-img')">`],
      ["notes", `<svg onload="${MARK("notes-svg")}"></svg> <iframe srcdoc=`],
      ["notes' link", "[n](javascript:alert((3)))"],
    ])
      assert.ok(text.includes(t), `${name} not shown literally: ${t}`);
  });

  test("report.md carries the texts inert (rendered with marked: nothing runs or loads)", () => {
    const md = fs.readFileSync(path.join(dir, REPORT_FILE), "utf8");
    assert.deepEqual(problems(md, null), []);
    assert.deepEqual(
      problems(md, NOTES).filter((p) => p.startsWith("visible")),
      [],
    );
  });

  test("the control: a raw tag displayed past the sink does run here, so the counts above can fail", () => {
    assert.ok(control, "the control cell ran");
    assert.ok(
      control!.pwned.includes("control") || control!.handlers.length > 0,
      `the control's onerror neither ran nor rendered: ${JSON.stringify(control)}`,
    );
  });
});
