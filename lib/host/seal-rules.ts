/**
 * The seal rules (issue 22 items 6–7), asked by the archive before it exports or writes anything:
 *
 * 1. **The notebook says what happened.** It shows every output the kernel displayed (its own copy,
 *    outputs.jsonl), the same outcome, and every step result of the journal. Otherwise refused
 *    (E2E_ARCHIVE_OUTPUTS); `--restore-outputs` writes the kernel's copy back into the notebook first
 *    and records that in the trace.
 * 2. **A complete run**: no cell threw, every runbook cell ran, the executor did not stop. Otherwise
 *    refused (E2E_ARCHIVE_INCOMPLETE) unless `--incomplete "<reason>"`; the report is then never PASS.
 * 3. **No money left out**: money moved and no refund succeeded is refused (E2E_ARCHIVE_UNREFUNDED)
 *    unless `--unrefunded "<reason>"`; the report then says so, without advice a sealed session
 *    cannot follow.
 * 4. **The HTML export says what the notebook says** (`checkHtmlAgreement`, asked after the export,
 *    before the manifest): each code cell's outputs on the page are the notebook's, else refused
 *    (E2E_ARCHIVE_OUTPUTS) naming the cell and the first difference.
 * A reason given is returned, and the archive journals it (`seal_exception`) only once the secret scan
 * has passed, just before the manifest: a seal that is then refused leaves no exception behind to
 * count against a later seal (review 8). An exception a seal already journaled stands for a re-seal.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ArchiveRuleRefused } from "../errors";
import { OUTPUTS_FILE, SESSION_NOTEBOOK, TRACE_FILE } from "../evidence/files";
import { type Journal, latestStepResults } from "../evidence/journal";
import { firstOf } from "../evidence/journal-entries";
import { moneyOutstanding, refundedSoFarText } from "../run/ledger";
import {
  cellKeyOf,
  OUTPUTS_RESTORED_EVENT,
  outcomeShown,
  outputsAgreement,
  readKernelCopy,
  restoreOutputs,
  shownInCell,
} from "../evidence/outputs";
import { loadEvidence } from "../report/evidence";
import { deriveOutcome } from "../report/verdict";
import { sha256 } from "../evidence/canonical";
import { htmlAgreement } from "../evidence/html-agreement";
import { Trace } from "../evidence/trace";
import { incompleteReasons, readNotebook, writeNotebook } from "./nbfile";
import { notesProblem } from "../evidence/operator-notes";
import { STEPS, refundStepNo, stepNo } from "../run/steps";

/** The shortest reason accepted for --unrefunded and --incomplete (as for --reseal): a sentence, not "ok". */
export const EXCEPTION_REASON_MIN = 10;

export interface SealRuleOptions {
  /** Write the kernel's copy of the outputs back into the notebook when they disagree (recorded in the trace). */
  restoreOutputs?: boolean;
  /** Seal a session with money moved and no successful refund, for this written reason. */
  unrefunded?: string;
  /** Seal an incomplete run (never as PASS), for this written reason. */
  incomplete?: string;
}

/** Null when the reason will do, else the one-line refusal naming the fix. */
export function exceptionReasonProblem(
  flag: "unrefunded" | "incomplete",
  reason: string | undefined,
  dir = "<session-dir>",
): string | null {
  if (reason === undefined || reason.trim().length >= EXCEPTION_REASON_MIN) return null;
  const example =
    flag === "unrefunded"
      ? "refunded from the Hyperswitch dashboard, ticket OPS-123"
      : `disk filled after ${stepNo(STEPS, "refunded")}; report cell never ran`;
  return `--${flag} needs a written reason of at least ${EXCEPTION_REASON_MIN} characters, recorded in the journal: npm run archive -- ${dir} --${flag} "${example}"`;
}

/** A seal exception to journal (`seal_exception`) once the seal is certain. */
export interface SealException {
  rule: "incomplete" | "unrefunded";
  reason: string;
  what?: string[];
}

/**
 * Applies the first three rules in order (the fourth, `checkHtmlAgreement`, once the page is exported);
 * throws ArchiveRuleRefused naming the first broken one and its fix.
 * Returns the exceptions the caller journals when the seal goes ahead (only those that apply).
 */
export function applySealRules(dir: string, journal: Journal, o: SealRuleOptions): SealException[] {
  const sealedWith = (rule: SealException["rule"]) =>
    journal.all().some((e) => e.kind === "seal_exception" && e.data.rule === rule);
  const nbFile = path.join(dir, SESSION_NOTEBOOK);
  // A session the host made with a notebook is never sealed from its journal alone: with the notebook
  // and the kernel's copy both gone, nothing else would show that the operator's record is missing.
  const made = firstOf(journal.all(), "session_created")?.data.notebook !== undefined;
  const lost = made && !fs.existsSync(nbFile) ? SESSION_NOTEBOOK : null;
  if (lost && !o.incomplete && !sealedWith("incomplete"))
    throw new ArchiveRuleRefused(
      "E2E_ARCHIVE_OUTPUTS",
      dir,
      `the session notebook ${lost} is missing, though the journal says npm run session made it`,
      `put it back (from your copy, or ${path.join(dir, ".ipynb_checkpoints")} if JupyterLab kept one) and archive again; if it is lost, seal it as incomplete, never as PASS: npm run archive -- ${dir} --incomplete "<reason>"`,
    );
  const results = [...latestStepResults(journal.all()).values()];
  let agree = outputsAgreement(dir, results, { strict: true });
  const copy = readKernelCopy(dir);
  if (agree.problems.length && o.restoreOutputs && copy && agree.missing.length && fs.existsSync(nbFile)) {
    const before = fs.readFileSync(nbFile, "utf8");
    const { notebook, cells } = restoreOutputs(readNotebook(nbFile), copy);
    notebook.metadata = {
      ...notebook.metadata,
      payment_e2e_restored: { at: new Date().toISOString(), from: OUTPUTS_FILE, cells },
    };
    writeNotebook(nbFile, notebook);
    const t = Trace.open(path.join(dir, TRACE_FILE));
    t.append("note", {
      event: OUTPUTS_RESTORED_EVENT,
      file: SESSION_NOTEBOOK,
      from: OUTPUTS_FILE,
      cells,
      problems: agree.problems,
      sha256_before: sha256(before),
      sha256_after: sha256(fs.readFileSync(nbFile, "utf8")),
    });
    t.close();
    agree = outputsAgreement(dir, results, { strict: true });
  }
  if (agree.problems.length) {
    const restorable = copy !== null && agree.missing.length > 0 && !o.restoreOutputs;
    throw new ArchiveRuleRefused(
      "E2E_ARCHIVE_OUTPUTS",
      dir,
      agree.problems.join("; "),
      restorable
        ? `the notebook was closed without saving or its outputs were removed: put back what the kernel displayed with npm run archive -- ${dir} --restore-outputs (recorded in the trace)`
        : `the notebook on disk is not the record of this run: restore the saved notebook (git checkout -- ${dir}, or from your copy), or re-run its cells in Jupyter and save it, then archive again`,
    );
  }
  const stale = fs.existsSync(nbFile) ? staleOutcome(dir, readNotebook(nbFile)) : null;
  if (stale)
    throw new ArchiveRuleRefused(
      "E2E_ARCHIVE_OUTPUTS",
      dir,
      stale,
      "the notebook's outcome is older than the journal (a step ran after the report cell): run the report cell again in Jupyter and save the notebook, then archive again",
    );
  const notes = fs.existsSync(nbFile) ? notesProblem(readNotebook(nbFile), loadEvidence(dir).notes) : null;
  if (notes)
    throw new ArchiveRuleRefused(
      "E2E_ARCHIVE_OUTPUTS",
      dir,
      notes,
      "run the parameters cell and the session cell (const nb = openNotebook(…)) again in Jupyter, which records the note, then the report cell, and save the notebook; archive again (or empty OPERATOR_NOTES and save, if the note is not meant for the report)",
    );
  const incomplete = fs.existsSync(nbFile)
    ? incompleteReasons(readNotebook(nbFile))
    : lost
      ? [`the session notebook ${lost} is missing`]
      : [];
  if (incomplete.length && !o.incomplete && !sealedWith("incomplete"))
    throw new ArchiveRuleRefused(
      "E2E_ARCHIVE_INCOMPLETE",
      dir,
      `the run is incomplete: ${incomplete.join("; ")}`,
      `run the cells that did not run in Jupyter (re-run from the first one that threw or never ran; steps resume) and save the notebook, then archive again; or seal it as incomplete, never as PASS: npm run archive -- ${dir} --incomplete "<reason>"`,
    );
  const outstanding = moneyOutstanding(journal.all());
  if (outstanding && !o.unrefunded && !sealedWith("unrefunded"))
    throw new ArchiveRuleRefused(
      "E2E_ARCHIVE_UNREFUNDED",
      dir,
      `money moved and ${refundedSoFarText(journal.all()) ?? "no refund has succeeded"}`,
      `refund it before sealing: run the refund cell (${refundStepNo(STEPS)}) and the refunded cell (${stepNo(STEPS, "refunded")}) in the session's notebook and save it, then archive again; if it was refunded outside the runbook or cannot be, seal it with a written reason: npm run archive -- ${dir} --unrefunded "<reason>"`,
    );
  // Only what applies is journaled: a reason for a rule the session does not break is not evidence.
  const exceptions: SealException[] = [];
  if (incomplete.length && o.incomplete)
    exceptions.push({ rule: "incomplete", reason: o.incomplete.trim(), what: incomplete });
  if (outstanding && o.unrefunded) exceptions.push({ rule: "unrefunded", reason: o.unrefunded.trim() });
  return exceptions;
}

/**
 * The page the auditor opens shows what the sealed notebook shows (lib/evidence/html-agreement.ts):
 * asked once the export is in the folder and just before the manifest, so a notebook saved while the
 * page was made, or a page the archive did not make (a seal without export), is never sealed as the record.
 */
export function checkHtmlAgreement(dir: string): void {
  const problem = htmlAgreement(dir);
  if (problem)
    throw new ArchiveRuleRefused(
      "E2E_ARCHIVE_OUTPUTS",
      dir,
      problem,
      `the HTML export is not the notebook as saved (saved again after the page was made?): close the notebook in Jupyter and archive again, which exports the page from it: npm run archive -- ${dir}`,
    );
}

/** The report block's outcome line as the report cell showed it: `**Outcome** : **✅ PASS**`. */
const REPORT_OUTCOME = /\*\*Outcome\*\* : \*\*\S+ (PASS|FAIL|PARTIAL)\*\*/g;

/**
 * The notebook never says PASS when the journal's verdict is not PASS (review of issue 22). After the
 * report cell, a re-run step sets the banner back to "in progress" and may change the verdict, while
 * the report cell still shows the old outcome: refused until the report cell runs again. Null when the
 * notebook shows no report, or what it shows agrees with the verdict derived from the journal now.
 */
export function staleOutcome(dir: string, nb: ReturnType<typeof readNotebook>): string | null {
  const cells = nb.cells.filter((c) => c.cell_type === "code");
  const shown = (key: string) =>
    cells.filter((c) => cellKeyOf(sourceText(c.source)) === key).flatMap((c) => shownInCell(c).map((o) => o.data));
  let report: string | null = null;
  for (const t of shown("report")) for (const m of t.matchAll(REPORT_OUTCOME)) report = m[1];
  if (!report) return null;
  const banner = outcomeShown(shown("open"));
  if (!banner) return `the report cell shows outcome ${report}, but the outcome banner is back to "in progress"`;
  const verdict = deriveOutcome(loadEvidence(dir)).outcome;
  const claims = [...new Set([report, banner])];
  if (claims.includes("PASS") && verdict !== "PASS")
    return `the notebook shows outcome ${claims.join(" / ")}, but the journal's verdict is ${verdict}`;
  return null;
}

const sourceText = (s: string | string[] | undefined) => (Array.isArray(s) ? s.join("") : (s ?? ""));
