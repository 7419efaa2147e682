/**
 * The live gate's dry-run check (issue 13, issue 24 §4): the seed requires a staging dry run before
 * the live run. Only a sealed, verified, chained staging session whose steps all passed, whose seal
 * is signed by a signer in docs/allowed_signers, and whose anchor is in the committed living report
 * (and agrees with its git history) counts, and only when the verdict its journal derives is PASS and
 * what its seal stated is that verdict (the GO/NO-GO row's check: the derivation is the report layer's,
 * handed down as `judge`, lib/report/outcome-check.ts `outcomeJudge`; without one nothing passes);
 * every other staging folder is named with why it was rejected. Pre-flight runs `dryRunDone` with the
 * other guards.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { GuardError } from "../errors";
import { Journal, checkedJournal, firstOf, lastOf, latestStepResults, type JournalEntry } from "../evidence/journal";
import { moneyMoved } from "./ledger";
import { DryRunRef as DryRunRefSchema } from "../evidence/journal-entries";
import { JOURNAL_FILE } from "../evidence/files";
import { backendOrigin, backendText, loopbackProblem } from "../evidence/backend-origin";
import { readSessionSnapshot, recordedIdentity, unsealedChain } from "../evidence/snapshot";
import { type OutcomeJudge, type TrustOptions, sealTrust } from "../evidence/seal-trust";
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

/** What the gate trusts: the repository whose history holds the report, the report, the allowed signers (lib/evidence/seal-trust.ts). */
export type { OutcomeJudge, TrustOptions };

/**
 * The gate's options: what it trusts, and the report layer's judge of a journal's outcome
 * (lib/report/outcome-check.ts `outcomeJudge`, handed down by the notebook and `npm run preflight`).
 * Without a judge no dry run passes: every step PASS is not a PASS (a backend time impossible, money
 * that does not reconcile), and a stated outcome is not the journal's verdict until it is derived.
 */
export interface GateOptions extends TrustOptions {
  judge?: OutcomeJudge;
}

/** Why the gate cannot judge without the report layer's derivation (a caller that did not hand it down). */
const NO_JUDGE =
  "its outcome cannot be checked against its journal's verdict here (the gate was given no derivation) — run the live gate from the notebook's pre-flight or npm run preflight";

/**
 * Whether a staging folder is a dry run the live gate may rely on; the reason when not. Only a
 * sealed, verified staging session counts: manifest.json present, `verifySession` OK, manifest and
 * journal naming this folder and mode staging, the journal chained, every step PASS, the seal (and
 * any re-seal) signed by an allowed signer, and its anchor committed in the living report with no
 * disagreement in its history. A renamed sandbox journal, an unsealed run, an edited folder, an
 * unsigned or foreign-signed seal, an unpublished or uncommitted anchor, a signer list that is not the
 * committed one is refused, never skipped.
 */
export function dryRunProblem(dir: string, o: GateOptions = {}): string | null {
  const name = path.basename(dir);
  // Read once: the journal checks below and verify judge the same bytes.
  const snap = readSessionSnapshot(dir);
  let entries: readonly JournalEntry[];
  try {
    // Judged on its own, as Journal.open would (which says why a missing journal is refused).
    const journal = snap.journal ? checkedJournal(unsealedChain(snap.journal)) : null;
    if (!journal) Journal.open(dir); // throws, naming the missing journal
    entries = journal?.entries ?? [];
  } catch (e) {
    return `journal unreadable (${e instanceof Error ? e.message : String(e)})`;
  }
  const created = firstOf(entries, "session_created");
  if (!created || created.data.sessionId !== name || created.data.mode !== "staging")
    return `its journal records session ${created?.data.sessionId ?? "none"} in mode ${created?.data.mode ?? "none"}, not this staging folder: a renamed or copied session is no dry run — run MODE=staging`;
  // A local backend can claim staging (or production): on loopback only with the operator's statement.
  const loopback = loopbackProblem(backendOrigin(entries), "staging");
  if (loopback) return loopback;
  const st = latestStepResults(entries);
  const open = STEPS.find((d) => st.get(d.id)?.status !== "PASS");
  if (open)
    return `step ${open.n} (${open.id}) ${st.get(open.id)?.status ?? "never ran"}: not every step passed — run a new staging dry run with --refund`;
  // Sealed --incomplete (a cell threw or never ran): its outcome is PARTIAL, never the PASS the gate needs.
  const incomplete = lastOf(entries, "seal_exception", (e) => e.data.rule === "incomplete");
  if (incomplete)
    return `sealed as incomplete ("${incomplete.data.reason}"): its outcome is PARTIAL, not PASS — run a new staging dry run`;
  // The seal half (issue 24 §4), shared with the GO/NO-GO row: verified, chained, signed by a
  // committed allowed signer, anchored in the committed living report.
  // The seal's statements are held to the verdict derived from the journal, as the GO/NO-GO row holds them.
  const { judge, ...trust } = o;
  const t = sealTrust(snap, {
    ...trust,
    judge: judge?.findings,
    mode: "staging",
    anchor: "committed",
    redo: "run a new staging dry run",
  });
  if (t.ok === false) return t.problem;
  // Every step PASS is not yet a PASS: the verdict (a backend time impossible, money that does not reconcile).
  if (!judge) return NO_JUDGE;
  const v = judge.verdict(snap);
  if (typeof v === "string") return `its journal's verdict cannot be derived (${v}) — run a new staging dry run`;
  if (v.outcome !== "PASS")
    return `its journal's verdict is ${v.outcome} (${v.reason}), not PASS — run a new staging dry run that passes`;
  return null;
}

/**
 * Staging folders of an archive, newest first: the passed dry runs, and the others with why. A pass
 * older than a staging run that moved money and fell short is rejected too, naming that run.
 */
export function stagingDryRuns(
  archiveDir: string,
  o: GateOptions = {},
): { passed: DryRun[]; rejected: RejectedDryRun[] } {
  const out = { passed: [] as DryRun[], rejected: [] as RejectedDryRun[] };
  if (!fs.existsSync(archiveDir)) return out;
  // A newer staging run that moved money and fell short is staging as it is now: no older pass speaks
  // over it; nor over a newer one whose journal does not read (it may have done so).
  let heldBy: string | null = null;
  for (const name of fs.readdirSync(archiveDir).sort().reverse()) {
    const dir = path.join(archiveDir, name);
    if (!fs.statSync(dir).isDirectory() || !claimsStaging(dir, name)) continue;
    const problem = dryRunProblem(dir, o);
    const reason = problem ?? heldBy;
    if (reason) out.rejected.push({ sessionId: name, dir, reason });
    else out.passed.push({ sessionId: name, dir });
    if (problem && !heldBy)
      heldBy = fellShortAsStaging(dir, name, o.judge)
        ? `a newer staging dry run, ${name}, moved money and did not pass: this older pass no longer speaks for staging — run a new staging dry run that passes`
        : journalUnreadable(dir)
          ? `a newer staging session, ${name}, cannot be read (its journal does not read) and may have moved money and fallen short: this older pass no longer speaks for staging — restore its journal (your copy, or git checkout), or run a new staging dry run that passes`
          : null;
  }
  return out;
}

/** A folder's backend as text when its journal records a loopback origin, else null. */
function loopbackOf(dir: string): string | null {
  try {
    const snap = readSessionSnapshot(dir);
    const b = backendOrigin(snap.journal ? checkedJournal(unsealedChain(snap.journal)).entries : []);
    return b.loopback.length ? backendText(b) : null;
  } catch {
    return null; // it passed the gate, which read the same journal
  }
}

/** The folder's journal does not read as a session's (a line edited or torn, no session_created). */
function journalUnreadable(dir: string): boolean {
  try {
    const snap = readSessionSnapshot(dir);
    const entries = snap.journal ? checkedJournal(unsealedChain(snap.journal)).entries : [];
    return !firstOf(entries, "session_created");
  } catch {
    return true;
  }
}

/**
 * The folder's own staging session (its journal names it) moved money and did not pass: a step
 * short of PASS, sealed --incomplete, or a verdict short of PASS. Unsealed or unsigned alone is not
 * falling short.
 */
function fellShortAsStaging(dir: string, name: string, judge: OutcomeJudge | undefined): boolean {
  try {
    const snap = readSessionSnapshot(dir);
    const entries = snap.journal ? checkedJournal(unsealedChain(snap.journal)).entries : [];
    const created = firstOf(entries, "session_created");
    if (created?.data.sessionId !== name || created.data.mode !== "staging" || !moneyMoved(entries)) return false;
    const st = latestStepResults(entries);
    return (
      STEPS.some((d) => st.get(d.id)?.status !== "PASS") ||
      Boolean(lastOf(entries, "seal_exception", (e) => e.data.rule === "incomplete")) ||
      (judge !== undefined && !isPass(judge.verdict(snap)))
    );
  } catch {
    return false; // an unreadable journal is already named by dryRunProblem
  }
}

const isPass = (v: ReturnType<OutcomeJudge["verdict"]>) => typeof v !== "string" && v.outcome === "PASS";

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
export function passedDryRuns(archiveDir: string, o: GateOptions = {}): DryRun[] {
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
  o: GateOptions = {},
): GuardReport & { dryRun: DryRun | null } {
  const r: GuardReport & { dryRun: DryRun | null } = { refusals: [], warnings: [], dryRun: null };
  if (mode !== "live") return r;
  const runs = stagingDryRuns(archiveDir, o);
  r.dryRun = runs.passed[0] ?? null;
  // A dry run that counted through a tunnel says so, with the operator's statement, verbatim.
  const via = r.dryRun ? loopbackOf(r.dryRun.dir) : null;
  if (r.dryRun && via) r.warnings.push(guardWarning(`staging dry run ${r.dryRun.sessionId} ran against ${via}`));
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
