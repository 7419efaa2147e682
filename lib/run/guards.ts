/**
 * Guards before money moves (issue 4). Pure functions: each returns the refusals and warnings it
 * finds; pre-flight and step 3 both run them, and nothing is sent when one refuses.
 * Over 300 lines on purpose: every guard, the live gate's dry-run check (sealed, verified, chained)
 * and the TLS check of every live connection included, in one list that the pre-flight, step 3 and
 * their tests read. The dry-run check reads the archive; it is the one candidate to move out.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { isLoopback, isOperatorEmail } from "../config";
import type { StatusT } from "../contract";
import { formatMoney } from "../money";
import { GuardError } from "../errors";
import { Journal, latestStepResults, type JournalEntry } from "../evidence/journal";
import { MANIFEST_FILE } from "../evidence/files";
import { verifySession } from "../evidence/verify";
import { STEPS } from "./steps";
import type { Mode } from "../types";

export interface GuardReport {
  refusals: GuardError[];
  warnings: string[];
}

const empty = (): GuardReport => ({ refusals: [], warnings: [] });

function merge(...reports: GuardReport[]): GuardReport {
  return { refusals: reports.flatMap((r) => r.refusals), warnings: reports.flatMap((r) => r.warnings) };
}

/** The buyer account's address, by the same rule as the parameters cell (lib/config.ts). */
export function operatorEmailIsWellFormed(email: string): GuardReport {
  const r = empty();
  if (!isOperatorEmail(email))
    r.refusals.push(
      new GuardError(
        "email",
        `OPERATOR_EMAIL ${JSON.stringify(email)} is not a well-formed address — set OPERATOR_EMAIL to the buyer account's address, e.g. ops-test@example.com`,
      ),
    );
  return r;
}

/** live ⇒ production with Hyperswitch live; staging/sandbox ⇒ never production. */
export function modeMatchesEnvironment(mode: Mode, status: StatusT): GuardReport {
  const r = empty();
  const env = status.environment;
  const hs = status.services.hyperswitch;
  if (hs.status === "disabled")
    r.refusals.push(
      new GuardError(
        "hyperswitch",
        "the backend reports Hyperswitch disabled; no payment can be taken — fix the backend first",
      ),
    );
  if (hs.status === "degraded") r.warnings.push("Hyperswitch reports `degraded`: expect slow or failed payments");
  if (mode === "live") {
    if (env !== "production") {
      r.refusals.push(
        new GuardError(
          "environment",
          `MODE=live but the backend says environment=${env}: a live run against staging charges nothing real and the report would claim it did — point BASE_URL at production or use MODE=staging`,
        ),
      );
    } else if (hs.mode !== "live") {
      r.refusals.push(
        new GuardError(
          "environment",
          `MODE=live but Hyperswitch is in ${hs.mode} mode: no real charge would happen — switch the backend to live processors or use MODE=staging`,
        ),
      );
    }
  } else {
    if (env === "production") {
      r.refusals.push(
        new GuardError(
          "environment",
          `MODE=${mode} but the backend says environment=production: real money would move — use MODE=live with its confirmations, or point BASE_URL at staging`,
        ),
      );
    }
    if (hs.mode === "live") {
      r.refusals.push(
        new GuardError(
          "environment",
          `MODE=${mode} but Hyperswitch is in live mode: a real card would be charged — use MODE=live or a sandbox backend`,
        ),
      );
    }
  }
  return r;
}

/**
 * Live runs send a real password, an api-key and a database password: every connection encrypted
 * and verified, except on loopback. BASE_URL and HYPERSWITCH_URL must be https; DATABASE_URL must ask
 * for a verified certificate (`sslmode=verify-full`, or `verify-ca`; `require` passes with a warning).
 * The DSN is never echoed (it holds the read-only password).
 */
export function transportIsSafe(
  mode: Mode,
  baseUrl: string,
  more: { hyperswitchUrl?: string | null; databaseUrl?: string | null } = {},
): GuardReport {
  const r = empty();
  if (mode !== "live") return r;
  if (new URL(baseUrl).protocol !== "https:" && !isLoopback(baseUrl))
    r.refusals.push(
      new GuardError(
        "https",
        `MODE=live requires an https BASE_URL (got ${new URL(baseUrl).origin}) — use the https origin of production`,
      ),
    );
  const hs = more.hyperswitchUrl;
  if (hs && new URL(hs).protocol !== "https:" && !isLoopback(hs))
    r.refusals.push(
      new GuardError(
        "https",
        `MODE=live requires an https HYPERSWITCH_URL (got ${new URL(hs).origin}): the api-key would travel in clear — use the orchestrator's https origin`,
      ),
    );
  const dsn = more.databaseUrl;
  if (dsn) {
    let host = "";
    let sslmode = "";
    try {
      const u = new URL(dsn);
      host = u.hostname;
      sslmode = (u.searchParams.get("sslmode") ?? "").toLowerCase();
    } catch {
      host = "";
    }
    const local = host === "" || isLoopback(`postgres://${host.includes(":") ? `[${host}]` : host}`);
    if (!local && sslmode === "require")
      r.warnings.push(
        "DATABASE_URL has sslmode=require: write sslmode=verify-full so the database's certificate is checked whatever the client library's default",
      );
    else if (!local && sslmode !== "verify-full" && sslmode !== "verify-ca")
      r.refusals.push(
        new GuardError(
          "https",
          `MODE=live requires DATABASE_URL with sslmode=verify-full (got ${sslmode ? `sslmode=${sslmode}` : "no sslmode"}): the read-only password and the query would travel unverified — add ?sslmode=verify-full`,
        ),
      );
  }
  return r;
}

/** The confirmation phrase a live run must carry, naming the amount. */
export function liveConfirmPhrase(totalMinor: number, currency: string): string {
  return `charge ${formatMoney(totalMinor, currency)}`;
}

export function liveConfirmed(mode: Mode, confirm: string, totalMinor: number, currency: string): GuardReport {
  const r = empty();
  if (mode !== "live") return r;
  const want = liveConfirmPhrase(totalMinor, currency);
  if (confirm.trim().toLowerCase() !== want.toLowerCase()) {
    r.refusals.push(
      new GuardError(
        "live-confirm",
        `MODE=live needs LIVE_CONFIRM = "${want}" in the parameters cell, naming the amount your card will be charged`,
      ),
    );
  }
  return r;
}

export function priceUnderCap(totalMinor: number, currency: string, maxMinor: number): GuardReport {
  const r = empty();
  if (totalMinor > maxMinor) {
    r.refusals.push(
      new GuardError(
        "price",
        `product costs ${formatMoney(totalMinor, currency)} incl. VAT, above MAX_PRICE ${formatMoney(maxMinor, currency)} — pick a cheaper product (the seed's ~5 EUR test product), or raise MAX_PRICE only if you mean to pay more`,
      ),
    );
  }
  return r;
}

/** Hyperswitch's API key prefixes: `prd_` is a production (live) key; the others are not. */
export const LIVE_KEY_PREFIXES = ["prd_"] as const;
export const TEST_KEY_PREFIXES = ["snd_", "dev_", "integ_"] as const;

/** The key's environment from its prefix: live, test (sandbox/dev/integ), or unknown. */
export function keyKind(apiKey: string): "live" | "test" | "unknown" {
  if (LIVE_KEY_PREFIXES.some((p) => apiKey.startsWith(p))) return "live";
  if (TEST_KEY_PREFIXES.some((p) => apiKey.startsWith(p))) return "test";
  return "unknown";
}

/** MODE=live needs a `prd_` key; sandbox and staging need `snd_`, `dev_` or `integ_`; anything else is refused. */
export function keyMatchesMode(mode: Mode, apiKey: string | null): GuardReport {
  const r = empty();
  if (!apiKey) return r;
  const kind = keyKind(apiKey);
  if (kind === "unknown")
    r.refusals.push(
      new GuardError(
        "key-mode",
        "HYPERSWITCH_API_KEY has no Hyperswitch prefix (prd_, snd_, dev_, integ_) — export the API key from the Hyperswitch dashboard of the environment you run against",
      ),
    );
  else if (mode === "live" && kind !== "live")
    r.refusals.push(
      new GuardError(
        "key-mode",
        `MODE=live but HYPERSWITCH_API_KEY is not a production key (${apiKey.slice(0, apiKey.indexOf("_") + 1)}…) — export the production key (prd_…)`,
      ),
    );
  else if (mode !== "live" && kind === "live")
    r.refusals.push(
      new GuardError(
        "key-mode",
        `MODE=${mode} but HYPERSWITCH_API_KEY is a production key (prd_…) — export the sandbox key (snd_…)`,
      ),
    );
  return r;
}

/**
 * The order the backend created is what the operator agreed to pay (issue 12 §4): its total under
 * MAX_PRICE, in the product's currency, and, live, the amount LIVE_CONFIRM names.
 */
export function orderMatchesCharge(
  mode: Mode,
  order: { totalMinor: number; currency: string },
  expected: { currency: string | null; maxMinor: number; liveConfirm: string },
): GuardReport {
  const r = empty();
  if (expected.currency && order.currency !== expected.currency)
    r.refusals.push(
      new GuardError(
        "order-amount",
        `the order was created in ${order.currency}, not the product's ${expected.currency} — do not pay; escalate to the marketplace squad`,
      ),
    );
  if (order.totalMinor > expected.maxMinor)
    r.refusals.push(
      new GuardError(
        "order-amount",
        `the order's total ${formatMoney(order.totalMinor, order.currency)} is above MAX_PRICE ${formatMoney(expected.maxMinor, order.currency)} — do not pay; escalate to the marketplace squad`,
      ),
    );
  if (mode === "live") {
    const want = liveConfirmPhrase(order.totalMinor, order.currency);
    if (expected.liveConfirm.trim().toLowerCase() !== want.toLowerCase())
      r.refusals.push(
        new GuardError(
          "order-amount",
          `the order's total is ${formatMoney(order.totalMinor, order.currency)}, not what LIVE_CONFIRM "${expected.liveConfirm}" names — do not pay; check the order and start a fresh session`,
        ),
      );
  }
  return r;
}

export interface DryRun {
  sessionId: string;
  dir: string;
}

export interface RejectedDryRun {
  sessionId: string;
  dir: string;
  /** One clause with the fix, e.g. "not sealed — run npm run archive -- <dir>". */
  reason: string;
}

/**
 * Whether a staging folder is a dry run the live gate may rely on; the reason when not. Only a
 * sealed, verified staging session counts: manifest.json present, `verifySession` OK, manifest and
 * journal naming this folder and mode staging, the journal chained, and every step PASS. A renamed
 * sandbox journal, an unsealed run or an edited folder is refused, never silently skipped.
 */
export function dryRunProblem(dir: string): string | null {
  const name = path.basename(dir);
  let entries: readonly JournalEntry[];
  let chained: boolean;
  try {
    const journal = Journal.open(dir);
    entries = journal.all();
    chained = journal.chained;
  } catch (e) {
    return `journal unreadable (${e instanceof Error ? e.message : String(e)})`;
  }
  const created = entries.find((e) => e.kind === "session_created");
  if (!created || created.data.sessionId !== name || created.data.mode !== "staging")
    return `its journal records session ${String(created?.data.sessionId ?? "none")} in mode ${String(created?.data.mode ?? "none")}, not this staging folder: a renamed or copied session is no dry run — run MODE=staging`;
  const st = latestStepResults(entries);
  const open = STEPS.find((d) => st.get(d.n)?.status !== "PASS");
  if (open)
    return `step ${open.n} (${open.id}) ${st.get(open.n)?.status ?? "never ran"}: not every step passed — run a new staging dry run with --refund`;
  if (!fs.existsSync(path.join(dir, MANIFEST_FILE))) return `not sealed — run npm run archive -- ${dir}`;
  const v = verifySession(dir);
  if (!v.ok) {
    const first = v.findings.find((f) => f.level === "error");
    return `fails verify (${first ? `${first.subject}: ${first.message}` : "see npm run verify"}) — run npm run verify -- ${dir}`;
  }
  const m = v.manifest;
  if (m?.mode !== "staging" || m?.session_id !== name)
    return `its manifest seals session ${m?.session_id ?? "none"} in mode ${m?.mode ?? "none"}, not this staging folder — run MODE=staging`;
  // A journal written before entries were chained: its steps cannot be trusted.
  if (!chained)
    return "journal not chained (written by an older tool): its results cannot be trusted — run a new staging dry run";
  return null;
}

/** Staging folders of an archive, newest first: the passed dry runs, and the others with why. */
export function stagingDryRuns(archiveDir: string): { passed: DryRun[]; rejected: RejectedDryRun[] } {
  const out = { passed: [] as DryRun[], rejected: [] as RejectedDryRun[] };
  if (!fs.existsSync(archiveDir)) return out;
  for (const name of fs.readdirSync(archiveDir).sort().reverse()) {
    const dir = path.join(archiveDir, name);
    if (!name.endsWith("-staging") || !fs.statSync(dir).isDirectory()) continue;
    const reason = dryRunProblem(dir);
    if (reason) out.rejected.push({ sessionId: name, dir, reason });
    else out.passed.push({ sessionId: name, dir });
  }
  return out;
}

/** Earlier staging sessions that the live gate accepts (sealed, verified, all steps PASS), newest first. */
export function passedDryRuns(archiveDir: string): DryRun[] {
  return stagingDryRuns(archiveDir).passed;
}

/** The rejected staging sessions in one clause: "<id>: <reason>; …" (the newest three). */
function rejectedText(rejected: RejectedDryRun[]): string {
  if (!rejected.length) return "";
  const shown = rejected.slice(0, 3).map((r) => `${r.sessionId}: ${r.reason}`);
  const more = rejected.length > 3 ? `; and ${rejected.length - 3} older staging session(s)` : "";
  return ` (rejected: ${shown.join("; ")}${more})`;
}

/** The seed requires ≥ 1 staging dry run before the live run; overriding needs a written reason. */
export function dryRunDone(mode: Mode, archiveDir: string, override: string): GuardReport & { dryRun: DryRun | null } {
  const r = { ...empty(), dryRun: null as DryRun | null };
  if (mode !== "live") return r;
  const runs = stagingDryRuns(archiveDir);
  r.dryRun = runs.passed[0] ?? null;
  if (!r.dryRun) {
    const why = rejectedText(runs.rejected);
    if (override.length >= 10)
      r.warnings.push(`no passed staging dry run in ${archiveDir}${why}; overridden by operator: "${override}"`);
    else
      r.refusals.push(
        new GuardError(
          "dry-run",
          `no passed staging dry run in ${archiveDir}${why} — run MODE=staging first and seal it (npm run archive), or set DRY_RUN_OVERRIDE to a written reason (≥ 10 chars) that goes into the report`,
        ),
      );
  }
  return r;
}

export const CLOCK_SKEW_WARN_MS = 5 * 1000; // 5 s

export function clockSkew(skewMs: number): GuardReport {
  const r = empty();
  if (Math.abs(skewMs) > CLOCK_SKEW_WARN_MS)
    r.warnings.push(
      `clock skew ${(skewMs / 1000).toFixed(1)} s against the server's Date header: trace times and server times disagree`,
    );
  return r;
}

export { merge as mergeGuards };
