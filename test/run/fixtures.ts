/** Step results built the same way for the run and report tests; a staging runbook on the sandbox. */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, afterEach, before } from "node:test";
import { startSandbox, type Faults, type Sandbox } from "../../sandbox";
import { uniqueReadonlyRole } from "../../sandbox/db";
import { payHeadless } from "../../lib/clients/payer";
import type { PreflightInput } from "../../lib/run/preflight";
import { Runbook } from "../../lib/run/runbook";
import { Session } from "../../lib/run/session";
import { STEPS } from "../../lib/run/steps";
import type { StepTable } from "../../lib/run/step-model";
import type { Journal } from "../../lib/evidence/journal";
import type { StepResult } from "../../lib/types";
import { faultyProxy } from "../faults/harness";

/**
 * A staging runbook on the sandbox's marketplace, refunds on, as an operator opens it: with the
 * orchestrator double's HYPERSWITCH_URL and key (pre-flight refuses staging without them), unless
 * `extra`/`env` name their own (`HYPERSWITCH_URL: ""` for none).
 */
export function openStaging(
  sb: Sandbox,
  archive: string,
  id: string,
  extra: Record<string, unknown> = {},
  env: Record<string, string> = {},
): Runbook {
  return Runbook.open(
    {
      SESSION_ID: id,
      MODE: "staging",
      BASE_URL: sb.marketplaceUrl,
      OPERATOR_EMAIL: sb.operator.email,
      REFUND: true,
      ARCHIVE_DIR: archive,
      HYPERSWITCH_URL: sb.hyperswitchUrl,
      ...extra,
    },
    { OPERATOR_PASSWORD: sb.operator.password, HYPERSWITCH_API_KEY: sb.apiKey, ...env },
  );
}

/**
 * One sandbox for a test file (PostgreSQL when TEST_PG_URL is set, else PGlite; its own read-only
 * role; `faults` from the start) and an archive folder, stopped and removed after the file. `session()`
 * opens a fresh staging session a second after the last (a session's id is its second), with the
 * read-only DATABASE_URL and 20 s deadlines; the runbooks it opened are closed after each test,
 * before the file's own afterEach.
 */
export function stagingSandbox(prefix: string, faults: Partial<Faults>) {
  let sb: Sandbox | undefined;
  let archive = "";
  const open: Runbook[] = [];
  let last = 0;
  before(async () => {
    sb = await startSandbox({
      quiet: true,
      databaseUrl: process.env.TEST_PG_URL,
      readonlyRole: uniqueReadonlyRole(),
      faults,
    });
    archive = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  });
  afterEach(async () => {
    while (open.length) await open.pop()?.close();
  });
  after(async () => {
    await sb?.stop();
    if (archive) fs.rmSync(archive, { recursive: true, force: true });
  });
  return {
    get sb(): Sandbox {
      if (!sb) throw new Error("the sandbox starts in before()");
      return sb;
    },
    get archive(): string {
      return archive;
    },
    /** The runbooks opened and not closed yet. */
    open,
    session(): Runbook {
      const at = Math.max(Date.now(), last + 1000);
      last = at;
      const id = Session.create("staging", archive, {}, new Date(at));
      const box = this.sb;
      const rb = openStaging(
        box,
        archive,
        id,
        { POLL_DEADLINE_S: 20, REFUND_DEADLINE_S: 20 },
        { DATABASE_URL: box.readonlyDsn },
      );
      open.push(rb);
      return rb;
    },
  };
}

/**
 * The path without the orchestrator's view (no HYPERSWITCH_URL, no key), which only a sandbox run may
 * take (pre-flight refuses staging and live without them): a sandbox-mode runbook on the sandbox, a
 * fresh session unless `id` names one to reopen.
 */
export function openWithoutOrchestrator(
  sb: Sandbox,
  archive: string,
  extra: Record<string, unknown> = {},
  env: Record<string, string> = {},
  id: string = Session.create("sandbox", archive),
): Runbook {
  return openStaging(
    sb,
    archive,
    id,
    { MODE: "sandbox", HYPERSWITCH_URL: "", ...extra },
    { HYPERSWITCH_API_KEY: "", ...env },
  );
}

/**
 * Steps 0–3 PASS, then the checkout is paid as a person pays it (over HTTP, no browser); returns the
 * bracket of when the payment was made.
 */
export async function orderAndPay(rb: Runbook): Promise<{ before: number; after: number }> {
  for (const id of ["preflight", "login", "product", "order"]) {
    const r = await rb.run(id);
    assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
  }
  const p = await rb.pay();
  const before = Date.now();
  await payHeadless(p.paymentUrl, "success", { browser: false });
  return { before, after: Date.now() };
}

/** A step result with fixed times (14:02:00Z to 14:02:11Z) and trace lines 1–2; `table` numbers it. */
export const stepResult = (
  step: number,
  status: StepResult["status"],
  reason?: string,
  table: StepTable = STEPS,
): StepResult => ({
  step,
  id: table[step].id,
  name: table[step].name,
  status,
  reason,
  observed: {},
  trace: { from: 1, to: 2 },
  startedAt: "2026-11-26T14:02:00.000Z",
  endedAt: "2026-11-26T14:02:11.000Z",
  durationMs: 11000,
});

/** The operator's confirmation of a payment at 14:01:00Z (card 4242, stripe), as the paid cell journals it. */
export function confirmPayment(journal: Journal): void {
  journal.append("payment_confirmed", {
    at: "2026-11-26T14:01:00.000Z",
    paid_at: "2026-11-26T14:01:00.000Z",
    paid_at_source: "test",
    last4: "4242",
    processor: "stripe",
    via: "operator",
  });
}

/** A backend's JSON answer rewritten by a test: the request's method and URL, and the answer's body. */
export type Rewrite = (method: string, url: string, body: Record<string, unknown>) => Record<string, unknown>;

/** The fault harness's proxy in front of `target`, rewriting each 2xx JSON answer while `rewrite()` names a rewrite. */
export function rewritingProxy(target: string, rewrite: () => Rewrite | null) {
  return faultyProxy(target, (method, url) => {
    const r = rewrite();
    return r ? { rewrite: (json) => r(method, url, json) } : "pass";
  });
}

/**
 * Polls `ok` every UNTIL_EVERY_MS until it holds; throws naming `what` after `ms`. The checks are
 * mostly the runbook's own traced order reads (an HTTP call, a query, a synced trace line: a few ms of
 * CPU each) while a backend delay of seconds runs out: at the runbook's own fastest poll, not 5× it.
 */
export const UNTIL_EVERY_MS = 250;
export async function until(what: string, ok: () => Promise<boolean>, ms = 20_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, UNTIL_EVERY_MS)))
    if (await ok()) return;
  throw new Error(`${what}: not within ${ms} ms`);
}

/** A staging pre-flight's input against the sandbox, as the notebook's first cell builds it; `extra` overrides. */
export function stagingPreflightInput(
  sb: Sandbox,
  archiveDir: string,
  extra: Partial<PreflightInput> = {},
): PreflightInput {
  return {
    mode: "staging",
    baseUrl: sb.marketplaceUrl,
    operatorEmail: sb.operator.email,
    product: "cheapest",
    maxPriceMinor: 500,
    archiveDir,
    hyperswitchApiKey: sb.apiKey,
    hyperswitchUrl: sb.hyperswitchUrl,
    liveConfirm: "",
    dryRunOverride: "",
    ...extra,
  };
}
