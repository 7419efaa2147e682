/**
 * The stated outcome against the verdict, for `npm run verify` (lib/cli/verify.ts hands it to
 * lib/evidence/verify-sealed.ts): the evidence layer holds report.md, the notebook and the HTML to the
 * journal's `outcome_stated` entries (lib/evidence/outcome-stated.ts, as verifier/verify_session.py
 * does); this check, which only this tool can make, holds those entries to the verdict the report
 * derives from the journal, reusing its own derivation (loadEvidence + deriveOutcome), never a twin:
 *
 * - the seal's entry equals the verdict derived from the whole journal (outcome, money moved, reason);
 * - the report cell's latest entry equals the verdict derived from the journal as it stood before it.
 * A folder whose journal holds no seal entry was sealed before outcomes were journaled: report.md is
 * compared with the derivation as a warning only. `outcomeJudge` hands both, and the verdict itself,
 * to the live gate below this layer (lib/run/dry-run.ts), so it judges a dry run as the GO row does.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { JournalEntry } from "../evidence/journal";
import type { EntryOf } from "../evidence/journal-entries";
import { REPORT_FILE } from "../evidence/files";
import type { SessionSnapshot } from "../evidence/snapshot";
import type { OutcomeJudge } from "../evidence/seal-trust";
import type { VerifyFinding } from "../evidence/verify";
import { blockClaims, mismatch, quoted, sameReason, statedEntries } from "../evidence/outcome-stated";
import { loadEvidence } from "./evidence";
import { type Verdict, deriveOutcome } from "./verdict";

type Stated = EntryOf<"outcome_stated">;

/** The verdict of a journal prefix (the entries before `upTo`), or why it cannot be derived. */
function verdictBefore(snap: SessionSnapshot, upTo: number | null): { v: Verdict; moneyMoved: boolean } | string {
  try {
    const s =
      upTo === null || !snap.journal
        ? snap
        : { ...snap, journal: { ...snap.journal, entries: snap.journal.entries.slice(0, upTo) } };
    const ev = loadEvidence(s);
    return { v: deriveOutcome(ev), moneyMoved: ev.moneyMoved };
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** An entry against the verdict of the journal before it. */
function entryFindings(
  rel: string,
  e: Stated & JournalEntry,
  d: { v: Verdict; moneyMoved: boolean },
  who: string,
): VerifyFinding[] {
  const at = `${rel}:${e.seq}`;
  if (e.data.outcome !== d.v.outcome)
    return [mismatch(at, `${who} stated outcome ${e.data.outcome}, the journal's verdict is ${d.v.outcome}`)];
  if (e.data.money_moved !== d.moneyMoved)
    return [
      mismatch(
        at,
        `${who} stated money moved: ${e.data.money_moved}, the journal says ${d.moneyMoved ? "money moved" : "no money moved"}`,
      ),
    ];
  if (!sameReason(e, d.v.reason))
    return [mismatch(at, `${who} stated the reason ${quoted(e.data.reason)}, the journal's is ${quoted(d.v.reason)}`)];
  return [];
}

/**
 * Every finding about the journal's stated outcomes against its derived verdict. `entries`: the
 * journal as verified, intact (null when there is none to trust). Never throws.
 * @example derivedOutcomeFindings(snap, journalIntact ? journal.entries : null)
 */
export function derivedOutcomeFindings(
  snap: SessionSnapshot,
  entries: readonly JournalEntry[] | null,
): VerifyFinding[] {
  if (!entries?.length) return [];
  const rel = snap.journalRel;
  const { seal, cell } = statedEntries(entries);
  if (!seal) return legacyFindings(snap);
  const full = verdictBefore(snap, null);
  if (typeof full === "string")
    return [
      { level: "warning", subject: rel, message: `outcome not checked against the journal: ${quoted(full, 300)}` },
    ];
  const out = entryFindings(rel, seal, full, "the seal");
  if (cell) {
    const then = verdictBefore(snap, entries.indexOf(cell));
    if (typeof then !== "string") out.push(...entryFindings(rel, cell, then, "the report cell"));
  }
  if (!out.length)
    out.push({
      level: "ok",
      subject: `${rel}:${seal.seq}`,
      message: `the seal's outcome ${full.v.outcome} is the journal's verdict`,
    });
  return out;
}

/** Sealed before outcomes were journaled: report.md against the derivation, said but not failed. */
function legacyFindings(snap: SessionSnapshot): VerifyFinding[] {
  let report: string;
  try {
    report = fs.readFileSync(path.join(snap.dir, REPORT_FILE), "utf8");
  } catch {
    return [];
  }
  const claims = blockClaims(report);
  if (!claims.length) return [];
  const full = verdictBefore(snap, null);
  if (typeof full === "string") return [];
  const other = claims.find((c) => c.word !== full.v.outcome);
  if (!other) return [];
  return [
    {
      level: "warning",
      subject: REPORT_FILE,
      message: `states outcome ${quoted(other.word, 40)}, this tool derives ${full.v.outcome} from the journal (sealed before outcomes were journaled: not an error)`,
    },
  ];
}

/**
 * The verdict the report derives from a folder's whole journal (as the GO/NO-GO row does), or why it
 * cannot be derived. Never throws.
 */
export function derivedVerdict(snap: SessionSnapshot): Verdict | string {
  const d = verdictBefore(snap, null);
  return typeof d === "string" ? d : d.v;
}

/** This layer's reading of a sealed journal, for the live gate (lib/run/dry-run.ts) and anyone below the report layer. */
export const outcomeJudge: OutcomeJudge = { findings: derivedOutcomeFindings, verdict: derivedVerdict };
