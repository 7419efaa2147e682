/**
 * Opens an exported audit page the way an auditor does (a file in Chromium) and records everything
 * it tries: every request but the page itself is recorded and aborted, dialogs are recorded and
 * dismissed, Content-Security-Policy refusals are collected from the console. Then it measures
 * the layout at the given width. Shared by the fixture test and the end-to-end run.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CHROMIUM_ARGS, findChromium } from "../../lib/clients/payer";

/** Where tests leave screenshots (git-ignored). */
export const ARTIFACTS = path.resolve(__dirname, "..", ".artifacts");

export interface AuditPage {
  title: string;
  /** Requests other than the page itself and data: URLs (each was aborted). */
  requests: string[];
  dialogs: string[];
  /** Console messages about a Content-Security-Policy refusal: something tried to load or run. */
  cspViolations: string[];
  pageErrors: string[];
  innerWidth: number;
  scrollWidth: number;
  /** For each table whose last header is "Trace": that header's right edge, in CSS pixels. */
  traceColumnRights: number[];
  /** The page's visible text. */
  text: string;
  /** Natural size of each `data:image/png` image. */
  pngs: Array<[number, number]>;
  /** Elements that would have run or loaded something if the page were not escaped. */
  javascriptLinks: number;
  foreignImages: number;
  scripts: number;
}

export const chromiumMissing = (): string | false => (findChromium() ? false : "no Chromium installed");

export async function openAuditPage(file: string, o: { width?: number; screenshot?: string } = {}): Promise<AuditPage> {
  const { chromium } = await import("playwright-core");
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "audit-page-"));
  const ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath: findChromium() ?? undefined,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: o.width ?? 1000, height: 900 },
  });
  const url = `file://${path.resolve(file)}`;
  const requests: string[] = [];
  const dialogs: string[] = [];
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];
  try {
    await ctx.route("**/*", (route) => {
      const u = route.request().url();
      if (u === url) return route.continue();
      if (!u.startsWith("data:")) requests.push(u);
      return route.abort();
    });
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on("request", (r) => {
      const u = r.url();
      if (u !== url && !u.startsWith("data:") && !requests.includes(u)) requests.push(u);
    });
    page.on("dialog", (d) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      void d.dismiss();
    });
    page.on("console", (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
    });
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(url, { waitUntil: "load" });
    // Give anything that slipped through (a timer, an onerror) a moment to fire.
    await page.waitForTimeout(300);
    const m = await page.evaluate(() => {
      const d = (globalThis as unknown as { document: DomDoc; window: { innerWidth: number } }).document;
      const w = (globalThis as unknown as { window: { innerWidth: number } }).window;
      const traceRights: number[] = [];
      for (const t of d.querySelectorAll("table")) {
        const ths = t.querySelectorAll("th");
        const last = ths[ths.length - 1];
        if (last && last.textContent?.trim() === "Trace") traceRights.push(last.getBoundingClientRect().right);
      }
      const pngs = [...d.querySelectorAll("img")]
        .filter((i) => (i.getAttribute("src") ?? "").startsWith("data:image/png"))
        .map((i) => [i.naturalWidth, i.naturalHeight] as [number, number]);
      return {
        title: d.title,
        innerWidth: w.innerWidth,
        scrollWidth: d.documentElement.scrollWidth,
        traceColumnRights: traceRights,
        // biome-ignore lint/performance/useDomNodeTextContent: what the auditor sees is the point (escaped tags as text)
        text: d.body.innerText,
        pngs,
        javascriptLinks: d.querySelectorAll("a[href^='javascript' i]").length,
        foreignImages: [...d.querySelectorAll("img")].filter((i) => !(i.getAttribute("src") ?? "").startsWith("data:"))
          .length,
        scripts: d.querySelectorAll("script").length,
      };
    });
    if (o.screenshot) {
      fs.mkdirSync(path.dirname(o.screenshot), { recursive: true });
      await page.screenshot({ path: o.screenshot, fullPage: true });
    }
    return { ...m, requests, dialogs, cspViolations, pageErrors };
  } finally {
    await ctx.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

// Structural DOM types: the project type-checks without the DOM library.
interface DomEl {
  textContent: string | null;
  getAttribute(n: string): string | null;
  getBoundingClientRect(): { right: number };
  querySelectorAll(s: string): ArrayLike<DomEl> & Iterable<DomEl>;
  naturalWidth: number;
  naturalHeight: number;
}
interface DomDoc {
  title: string;
  body: { innerText: string };
  documentElement: { scrollWidth: number };
  querySelectorAll(s: string): ArrayLike<DomEl> & Iterable<DomEl>;
}
