/**
 * The live gate's dry-run check (issue 13, issue 24 §4): the seed requires a staging dry run before
 * the live run. Only a sealed, verified, chained staging session whose steps all passed, whose seal
 * is signed by a signer in docs/allowed_signers, and whose anchor is in the committed living report
 * (and agrees with its git history) counts; every other staging folder is named with why it was
 * rejected. Pre-flight runs `dryRunDone` with the other guards.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { GuardError } from "../errors";
import { Journal, checkedJournal, firstOf, lastOf, latestStepResults, type JournalEntry } from "../evidence/journal";
import { moneyMoved } from "./ledger";
import { DryRunRef as DryRunRefSchema } from "../evidence/journal-entries";
import { JOURNAL_FILE, MANIFEST_FILE } from "../evidence/files";
import { readSessionSnapshot, recordedIdentity, unsealedChain } from "../evidence/snapshot";
import { verifySession } from "../evidence/verify";
import { checkAnchors } from "../evidence/anchor";
import { DEFAULT_ALLOWED_SIGNERS, SEAL_NAMESPACE, checkSignature, signatureFindings } from "../evidence/signature";
import { repoRoot } from "../paths";
import type { z } from "zod";
import { type GuardReport, guardWarning } from "./guards";
import { STEPS } from "./steps";
import type { Mode } from "../types";

export interface DryRun {
  sessionId: string;
  dir: string;
}

/**
 * What pre-flight recorded about the dry-run requirement (issue 21 item 4): the schema is the
 * journal's (`preflight` entry, `dry_run`); the report and the comparison read the reference and
 * the override from there, never from the words of the `dry_run` fact.
 */
export type DryRunRef = z.infer<typeof DryRunRefSchema>;
export { DryRunRefSchema };

/** The pre-flight's reference for `mode` from the gate's finding and the operator's override. */
export function dryRunRef(mode: Mode, dryRun: DryRun | null, override: string): DryRunRef {
  if (mode !== "live") return { kind: "not_required" };
  if (dryRun) return { kind: "passed", session_id: dryRun.sessionId };
  return override ? { kind: "overridden", reason: override } : { kind: "none" };
}

/** The `dry_run` fact pre-flight shows: a session id, "overridden: <reason>", "none" or "n/a". */
export function dryRunText(ref: DryRunRef): string {
  switch (ref.kind) {
    case "not_required":
      return "n/a";
    case "passed":
      return ref.session_id;
    case "overridden":
      return `overridden: ${ref.reason}`;
    case "none":
      return "none";
  }
}

export interface RejectedDryRun {
  sessionId: string;
  dir: string;
  /** One clause with the fix, e.g. "not sealed — run npm run archive -- <dir>". */
  reason: string;
}

/** What the gate trusts: the repository whose history holds the report, the report, the allowed signers. */
export interface TrustOptions {
  /** Default: the git repository that holds the session folder (its committed docs/ are what the gate trusts), else the tool's. */
  repoDir?: string;
  /** Default: docs/PAYMENT_E2E_LIVE_REPORT.md under repoDir. */
  reportFile?: string;
  /** Default: docs/allowed_signers under repoDir. */
  allowedSigners?: string;
}

/** The work tree of the git repository holding `dir`, or null outside one. */
function repositoryOf(dir: string): string | null {
  try {
    return execFileSync("git", ["rev-parse", "--show-toplevel"], {
      cwd: dir,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 10_000,
    }).trim();
  } catch {
    return null;
  }
}

const trust = (dir: string, o: TrustOptions) => {
  const repoDir = o.repoDir ?? repositoryOf(dir) ?? repoRoot();
  return {
    repoDir,
    reportFile: o.reportFile ?? path.join(repoDir, "docs", "PAYMENT_E2E_LIVE_REPORT.md"),
    allowedSigners: o.allowedSigners ?? path.join(repoDir, DEFAULT_ALLOWED_SIGNERS),
  };
};

/**
 * Whether a staging folder is a dry run the live gate may rely on; the reason when not. Only a
 * sealed, verified staging session counts: manifest.json present, `verifySession` OK, manifest and
 * journal naming this folder and mode staging, the journal chained, every step PASS, the seal (and
 * any re-seal) signed by an allowed signer, and its anchor committed in the living report with no
 * disagreement in its history. A renamed sandbox journal, an unsealed run, an edited folder, an
 * unsigned or foreign-signed seal, an unpublished or uncommitted anchor, a signer list that is not the
 * committed one is refused, never skipped.
 */
export function dryRunProblem(dir: string, o: TrustOptions = {}): string | null {
  const name = path.basename(dir);
  // Read once: the journal checks below and verify judge the same bytes.
  const snap = readSessionSnapshot(dir);
  let entries: readonly JournalEntry[];
  let chained: boolean;
  try {
    // Judged on its own, as Journal.open would (which says why a missing journal is refused).
    const journal = snap.journal ? checkedJournal(unsealedChain(snap.journal)) : null;
    if (!journal) Journal.open(dir); // throws, naming the missing journal
    entries = journal?.entries ?? [];
    chained = journal?.chained ?? false;
  } catch (e) {
    return `journal unreadable (${e instanceof Error ? e.message : String(e)})`;
  }
  const created = firstOf(entries, "session_created");
  if (!created || created.data.sessionId !== name || created.data.mode !== "staging")
    return `its journal records session ${created?.data.sessionId ?? "none"} in mode ${created?.data.mode ?? "none"}, not this staging folder: a renamed or copied session is no dry run — run MODE=staging`;
  const st = latestStepResults(entries);
  const open = STEPS.find((d) => st.get(d.id)?.status !== "PASS");
  if (open)
    return `step ${open.n} (${open.id}) ${st.get(open.id)?.status ?? "never ran"}: not every step passed — run a new staging dry run with --refund`;
  // Sealed --incomplete (a cell threw or never ran): its outcome is PARTIAL, never the PASS the gate needs.
  const incomplete = lastOf(entries, "seal_exception", (e) => e.data.rule === "incomplete");
  if (incomplete)
    return `sealed as incomplete ("${incomplete.data.reason}"): its outcome is PARTIAL, not PASS — run a new staging dry run`;
  if (!snap.sealed) return `not sealed — run npm run archive -- ${dir}`;
  const v = verifySession(snap);
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
  return trustProblem(dir, m, o);
}

/**
 * Why `file` is not the committed copy in `repoDir` (untracked, or changed against HEAD, staged or
 * not), or null when it is. The signer list decides whose seal counts, so a key added to the working
 * copy and never committed (never reviewed, absent from history) must not open the gate.
 */
function uncommittedProblem(repoDir: string, file: string): string | null {
  const git = (...args: string[]) =>
    execFileSync("git", args, { cwd: repoDir, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 10_000 });
  try {
    git("ls-files", "--error-unmatch", "--", path.resolve(file));
  } catch {
    return `is not committed in ${repoDir}`;
  }
  try {
    git("diff", "--quiet", "HEAD", "--", path.resolve(file));
  } catch {
    return "differs from its committed version";
  }
  return null;
}

/** The signature and anchor half of the gate (issue 24 §4): null when both hold. */
function trustProblem(dir: string, m: NonNullable<ReturnType<typeof verifySession>["manifest"]>, o: TrustOptions) {
  const t = trust(dir, o);
  const shownSigners = path.relative(t.repoDir, t.allowedSigners) || t.allowedSigners;
  const sig = checkSignature(path.join(dir, MANIFEST_FILE), t.allowedSigners, SEAL_NAMESPACE);
  if (sig.state === "unsigned")
    return `its seal is unsigned (sealed without a key, or before signatures): an allowed signer signs it with npm run archive -- ${dir} --sign-key <key> after checking it, or run a new staging dry run`;
  if (sig.state === "bad")
    return `its seal does not count: ${sig.why}${sig.signers ? "" : ` — only a seal by a signer in ${shownSigners} is trusted; run a new staging dry run and seal it with your key`}`;
  const reseal = signatureFindings(dir, m, { allowedSigners: t.allowedSigners }).find((f) => f.level === "error");
  if (reseal) return `${reseal.subject}: ${reseal.message} — run a new staging dry run`;
  const anchors = checkAnchors(dir, { repoDir: t.repoDir, reportFile: t.reportFile });
  const bad = anchors.find((f) => f.level === "error");
  if (bad) return `its anchor disagrees (${bad.subject}: ${bad.message}) — run npm run verify -- ${dir}`;
  if (!anchors.some((f) => f.level === "ok" && f.kind === "anchor_committed")) {
    const why = anchors.find((f) => f.level === "warning");
    return `its anchor is not committed in the living report (${why?.message ?? "no anchor"}) — publish it (npm run report -- ${dir}) and commit docs/PAYMENT_E2E_LIVE_REPORT.md`;
  }
  // Last: whose seal counts is the committed list's word, not the working copy's.
  const uncommitted = uncommittedProblem(t.repoDir, t.allowedSigners);
  if (uncommitted)
    return `${shownSigners} ${uncommitted}: the gate trusts only the committed signer list — commit it in a reviewed change, or restore it (git checkout -- ${shownSigners})`;
  return null;
}

/**
 * Staging folders of an archive, newest first: the passed dry runs, and the others with why. A pass
 * older than a staging run that moved money and fell short is rejected too, naming that run.
 */
export function stagingDryRuns(
  archiveDir: string,
  o: TrustOptions = {},
): { passed: DryRun[]; rejected: RejectedDryRun[] } {
  const out = { passed: [] as DryRun[], rejected: [] as RejectedDryRun[] };
  if (!fs.existsSync(archiveDir)) return out;
  // A newer staging run that moved money and fell short is staging as it is now: no older pass speaks over it.
  let fellShort: string | null = null;
  for (const name of fs.readdirSync(archiveDir).sort().reverse()) {
    const dir = path.join(archiveDir, name);
    if (!fs.statSync(dir).isDirectory() || !claimsStaging(dir, name)) continue;
    const problem = dryRunProblem(dir, o);
    const reason =
      problem ??
      (fellShort &&
        `a newer staging dry run, ${fellShort}, moved money and did not pass: this older pass no longer speaks for staging — run a new staging dry run that passes`);
    if (reason) out.rejected.push({ sessionId: name, dir, reason });
    else out.passed.push({ sessionId: name, dir });
    if (problem && !fellShort && fellShortAsStaging(dir, name)) fellShort = name;
  }
  return out;
}

/**
 * The folder's own staging session (its journal names it) moved money and did not pass: a step
 * short of PASS, or sealed --incomplete. Unsealed or unsigned alone is not falling short.
 */
function fellShortAsStaging(dir: string, name: string): boolean {
  try {
    const snap = readSessionSnapshot(dir);
    const entries = snap.journal ? checkedJournal(unsealedChain(snap.journal)).entries : [];
    const created = firstOf(entries, "session_created");
    if (created?.data.sessionId !== name || created.data.mode !== "staging" || !moneyMoved(entries)) return false;
    const st = latestStepResults(entries);
    return (
      STEPS.some((d) => st.get(d.id)?.status !== "PASS") ||
      Boolean(lastOf(entries, "seal_exception", (e) => e.data.rule === "incomplete"))
    );
  } catch {
    return false; // an unreadable journal is already named by dryRunProblem
  }
}

/**
 * Whether a folder is a staging candidate: its journal records mode staging, or the folder does not
 * hold the session its name says (a renamed or copied session, or an unreadable journal), which
 * dryRunProblem then names as a rejection instead of the gate passing over it in silence.
 */
function claimsStaging(dir: string, name: string): boolean {
  if (!fs.existsSync(path.join(dir, JOURNAL_FILE))) return false;
  let who: ReturnType<typeof recordedIdentity>;
  try {
    who = recordedIdentity(dir);
  } catch {
    return true;
  }
  return who?.mode === "staging" || who?.id !== name;
}

/** Earlier staging sessions that the live gate accepts (sealed, verified, all steps PASS), newest first. */
export function passedDryRuns(archiveDir: string, o: TrustOptions = {}): DryRun[] {
  return stagingDryRuns(archiveDir, o).passed;
}

/** The rejected staging sessions in one clause: "<id>: <reason>; …" (the newest three). */
function rejectedText(rejected: RejectedDryRun[]): string {
  if (!rejected.length) return "";
  const shown = rejected.slice(0, 3).map((r) => `${r.sessionId}: ${r.reason}`);
  const more = rejected.length > 3 ? `; and ${rejected.length - 3} older staging session(s)` : "";
  return ` (rejected: ${shown.join("; ")}${more})`;
}

/** The seed requires ≥ 1 staging dry run before the live run; overriding needs a written reason. */
export function dryRunDone(
  mode: Mode,
  archiveDir: string,
  override: string,
  o: TrustOptions = {},
): GuardReport & { dryRun: DryRun | null } {
  const r: GuardReport & { dryRun: DryRun | null } = { refusals: [], warnings: [], dryRun: null };
  if (mode !== "live") return r;
  const runs = stagingDryRuns(archiveDir, o);
  r.dryRun = runs.passed[0] ?? null;
  if (!r.dryRun) {
    const why = rejectedText(runs.rejected);
    if (override.length >= 10)
      r.warnings.push(
        guardWarning(`no passed staging dry run in ${archiveDir}${why}; overridden by operator: "${override}"`),
      );
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
