/**
 * Driving one notebook in real JupyterLab 4 the way an operator does: select a cell, Shift+Enter,
 * type into a cell, the toolbar's ■, the Kernel menu, Ctrl+S. Only what a person sees is read back
 * (prompts, the kernel-status indicator, rendered outputs), never JupyterLab's internals.
 *
 * When a cell is done: tslab sends no execute_input, but its execute_reply carries an execution
 * count, so JupyterLab shows `[*]:` while a cell runs and `[n]:` once the kernel replied. A new
 * number (tslab counts up per kernel) is the signal; the notebook toolbar's kernel-status
 * indicator (`data-status` idle/busy/…) tells when the kernel as a whole is quiet.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { BrowserContext, Locator, Page } from "playwright-core";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `probe` until it returns a value other than undefined; throw `what` (plus the last value seen) at the deadline. */
export async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  everyMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(everyMs);
  }
}

const PROMPT_DONE = /^\[(\d+)\]:$/;

/** The page's DOM as the functions run inside it see it (the test's own compile has no DOM library). */
interface PageElement {
  classList: { contains(c: string): boolean };
  textContent: string | null;
  querySelector(selector: string): PageElement | null;
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
  removeAttribute(name: string): void;
}
declare const document: { querySelector(selector: string): PageElement | null };

export class LabNotebook {
  private shot = 0;
  constructor(
    readonly page: Page,
    private readonly shotsDir: string,
  ) {}

  /** The notebook panel on screen (JupyterLab keeps hidden panels in the DOM). */
  get panel(): Locator {
    return this.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)");
  }

  /** Wait until the notebook shows `codeCells` code cells (JupyterLab first shows an empty placeholder). */
  async loaded(codeCells: number, timeoutMs: number): Promise<void> {
    await until(`notebook shows its ${codeCells} code cells`, timeoutMs, async () =>
      (await this.codeCells().count()) === codeCells ? true : undefined,
    );
  }

  codeCells(): Locator {
    return this.panel.locator(".jp-Notebook .jp-CodeCell");
  }

  /** The one code cell whose source contains `needle`. */
  async cell(needle: string): Promise<Locator> {
    const c = this.codeCells().filter({ has: this.page.locator(".cm-content", { hasText: needle }) });
    const n = await c.count();
    if (n !== 1) throw new Error(`expected exactly one code cell containing ${JSON.stringify(needle)}, found ${n}`);
    return c;
  }

  async prompt(cell: Locator): Promise<string> {
    return ((await cell.locator(".jp-InputPrompt").first().textContent()) ?? "").trim();
  }

  async source(cell: Locator): Promise<string> {
    return cell
      .locator(".cm-content .cm-line")
      .evaluateAll((lines) => lines.map((l) => (l as unknown as { textContent: string }).textContent).join("\n"));
  }

  /** What a person reads in the cell's output area (rendered Markdown as text, streams as text). */
  async outputText(cell: Locator): Promise<string> {
    // Rendered text, with the line breaks a person sees (a table row per line, one line per paragraph).
    return (await cell.locator(".jp-OutputArea-output").allInnerTexts()).join("\n").trim();
  }

  /** The cell's outputs one by one: the rendered MIME type (e.g. text/markdown, application/vnd.jupyter.stderr) and text. */
  async outputs(cell: Locator): Promise<{ mime: string; text: string }[]> {
    const area = cell.locator(".jp-OutputArea-output");
    const texts = await area.allInnerTexts();
    const mimes = await area.evaluateAll((els) =>
      els.map(
        (e) => (e as unknown as { getAttribute(n: string): string | null }).getAttribute("data-mime-type") ?? "?",
      ),
    );
    return texts.map((text, i) => ({ mime: mimes[i] ?? "?", text: text.trim() }));
  }

  /** The notebook toolbar's kernel-status indicator: idle, busy, starting, restarting, connecting, … */
  async kernelStatus(): Promise<string> {
    return (await this.panel.locator(".jp-Notebook-ExecutionIndicator").first().getAttribute("data-status")) ?? "";
  }

  /** The status bar's kernel item, e.g. "TypeScript (tslab, runbook) | Idle" ("No Kernel | Initializing" before). */
  async kernelStatusBar(): Promise<string> {
    const item = this.page.locator('#jp-main-statusbar .jp-StatusBar-TextItem[title^="Change kernel"]');
    return ((await item.first().textContent()) ?? "").trim();
  }

  /** Both the toolbar indicator and the status bar say idle, for `stableMs` in a row. */
  async waitKernelIdle(timeoutMs: number, stableMs = 500): Promise<void> {
    if (stableMs === 0) {
      // Watched inside the page, on every frame: the moment a person sees Idle.
      await this.page.waitForFunction(
        () =>
          document
            .querySelector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator")
            ?.getAttribute("data-status") === "idle" &&
          /\| Idle$/.test(
            document
              .querySelector('#jp-main-statusbar .jp-StatusBar-TextItem[title^="Change kernel"]')
              ?.textContent?.trim() ?? "",
          ),
        undefined,
        { timeout: timeoutMs, polling: "raf" },
      );
      return;
    }
    let since = 0;
    await until("kernel idle", timeoutMs, async () => {
      if ((await this.kernelStatus()) !== "idle" || !/\| Idle$/.test(await this.kernelStatusBar())) {
        since = 0;
        return undefined;
      }
      since ||= Date.now();
      return Date.now() - since >= stableMs ? true : undefined;
    });
  }

  /** Select a cell in command mode, as a click on its prompt does. */
  async select(cell: Locator): Promise<void> {
    await cell.scrollIntoViewIfNeeded();
    await cell.locator(".jp-InputPrompt").first().click();
    await this.page.keyboard.press("Escape");
    await cell.and(this.page.locator(".jp-Cell.jp-mod-active")).waitFor({ timeout: 5_000 });
  }

  /** Shift+Enter on the cell; returns without waiting for the kernel. */
  async start(cell: Locator): Promise<string> {
    const before = await this.prompt(cell);
    await this.select(cell);
    await this.page.keyboard.press("Shift+Enter");
    return before;
  }

  /**
   * Runs the cells holding `needles`, in order, the way an operator goes down a notebook: Shift+Enter
   * on the active cell, which JupyterLab then leaves for the next one (Shift+Enter past the Markdown
   * cells in between). Each code cell must be the active one when its turn comes, and its reply (a
   * new prompt number) is watched inside the page rather than polled. Select the first cell before.
   * Calls `done` as each replies; returns the outputs' text.
   */
  async runDown(needles: readonly string[], timeoutMs: number, done?: (needle: string) => void): Promise<string[]> {
    const outs: string[] = [];
    for (const needle of needles) {
      for (let md = 0; ; md++) {
        const kind = await this.page.evaluate(() => {
          const c = document.querySelector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell.jp-mod-active");
          return c?.classList.contains("jp-MarkdownCell") ? "markdown" : c ? "code" : "none";
        });
        if (kind !== "markdown") break;
        if (md > 10) throw new Error(`more than 10 Markdown cells before ${JSON.stringify(needle)}`);
        await this.page.keyboard.press("Shift+Enter");
      }
      const before = await this.page.evaluate((n) => {
        const c = document.querySelector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell.jp-mod-active");
        if (!c?.classList.contains("jp-CodeCell") || !c.querySelector(".cm-content")?.textContent?.includes(n))
          return null;
        c.setAttribute("data-test-running", "1");
        return c.querySelector(".jp-InputPrompt")?.textContent?.trim() ?? "";
      }, needle);
      if (before === null) throw new Error(`the active cell is not the code cell holding ${JSON.stringify(needle)}`);
      await this.page.keyboard.press("Shift+Enter");
      const cell = this.panel.locator('.jp-CodeCell[data-test-running="1"]');
      await this.page.waitForFunction(
        (b) => {
          const p = document
            .querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell[data-test-running="1"] .jp-InputPrompt')
            ?.textContent?.trim();
          return p !== undefined && p !== b && /^\[\d+\]:$/.test(p);
        },
        before,
        { timeout: timeoutMs, polling: "raf" },
      );
      done?.(needle);
      outs.push(await this.outputText(cell));
      await cell.evaluate((c) => (c as unknown as PageElement).removeAttribute("data-test-running"));
    }
    return outs;
  }

  /** Wait until the cell shows a new execution count, i.e. the kernel replied. */
  async finished(cell: Locator, before: string, timeoutMs: number): Promise<number> {
    return until(`cell finished (prompt was ${before})`, timeoutMs, async () => {
      const p = await this.prompt(cell);
      const m = PROMPT_DONE.exec(p);
      return m && p !== before ? Number(m[1]) : undefined;
    });
  }

  /** Shift+Enter and wait for the reply; returns the cell's output text. */
  async run(cell: Locator, timeoutMs = 60_000): Promise<string> {
    const before = await this.start(cell);
    await this.finished(cell, before, timeoutMs);
    return this.outputText(cell);
  }

  /** Replace a cell's source by typing into its editor (select all, type). */
  async edit(cell: Locator, text: string): Promise<void> {
    await cell.scrollIntoViewIfNeeded();
    await cell.locator(".cm-content").click();
    await this.page.keyboard.press("ControlOrMeta+A");
    await this.page.keyboard.insertText(text);
    const got = await this.source(cell);
    if (got !== text)
      throw new Error(`cell source after typing is ${JSON.stringify(got)}, wanted ${JSON.stringify(text)}`);
    await this.page.keyboard.press("Escape");
  }

  /** The toolbar's ■ (notebook:interrupt-kernel). */
  async interrupt(): Promise<void> {
    await this.panel.locator('[data-command="notebook:interrupt-kernel"]').first().click();
  }

  /** Kernel menu > an item, by its label. */
  async kernelMenu(label: RegExp): Promise<void> {
    await this.page.locator(".lm-MenuBar-item", { hasText: /^Kernel$/ }).click();
    await this.page.locator(".lm-Menu-item:not(.lm-mod-disabled)", { hasText: label }).first().click();
  }

  /** Accept the open dialog (e.g. "Restart Kernel?") with its primary button. */
  async acceptDialog(timeoutMs = 10_000): Promise<string> {
    const dialog = this.page.locator(".jp-Dialog");
    await dialog.waitFor({ timeout: timeoutMs });
    const title = ((await dialog.locator(".jp-Dialog-header").textContent()) ?? "").trim();
    await dialog.locator("button.jp-mod-accept").click();
    await dialog.waitFor({ state: "detached", timeout: timeoutMs });
    return title;
  }

  /** Ctrl+S in command mode; waits until the tab no longer shows unsaved changes. */
  async save(timeoutMs = 20_000): Promise<void> {
    await this.select(this.codeCells().first());
    await this.page.keyboard.press("ControlOrMeta+S");
    const tab = this.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current");
    await until("notebook saved (tab not dirty)", timeoutMs, async () =>
      ((await tab.getAttribute("class")) ?? "").includes("jp-mod-dirty") ? undefined : true,
    );
  }

  /** A numbered screenshot of the page (or of another tab, e.g. the checkout), for after-the-fact reading. */
  async screenshot(name: string, page: Page = this.page): Promise<string> {
    const f = path.join(this.shotsDir, `${String(++this.shot).padStart(2, "0")}-${name}.png`);
    fs.mkdirSync(this.shotsDir, { recursive: true });
    await page.screenshot({ path: f, fullPage: false }).catch(() => undefined);
    return f;
  }

  /** Bring a cell into view and take a screenshot of the page. */
  async screenshotAt(cell: Locator, name: string): Promise<string> {
    await cell.scrollIntoViewIfNeeded().catch(() => undefined);
    return this.screenshot(name);
  }
}

/**
 * Pays the hosted checkout by hand in a second tab, as an operator does: clicks the notebook's pay
 * link, fills the test card, pays and reads the result the checkout shows.
 */
export async function payInSecondTab(
  ctx: BrowserContext,
  link: Locator,
  card: { number: string },
): Promise<{ status: string; last4: string; connector: string; at: string }> {
  const [checkout] = await Promise.all([ctx.waitForEvent("page", { timeout: 15_000 }), link.click()]);
  await checkout.waitForLoadState("domcontentloaded");
  await checkout.fill("#card_number", card.number);
  await checkout.fill("#expiry", `12/${String((new Date().getUTCFullYear() + 3) % 100).padStart(2, "0")}`);
  await checkout.fill("#cvc", "123");
  if (await checkout.locator("#holder").count()) await checkout.fill("#holder", "E2E Operator");
  await Promise.all([checkout.waitForSelector("#result", { timeout: 20_000 }), checkout.click("button#pay")]);
  const seen = {
    status: (await checkout.getAttribute("#result", "data-status")) ?? "?",
    last4: ((await checkout.textContent("#last4")) ?? "").trim(),
    connector: ((await checkout.textContent("#connector")) ?? "").trim(),
    at: new Date().toISOString(),
  };
  await checkout.close();
  return seen;
}
