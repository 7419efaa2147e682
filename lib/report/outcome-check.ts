/**
 * Truth, not only integrity: what the auditor reads as the outcome is what the journal says. A seal
 * proves that report.md, the notebook and the HTML export did not change since; it does not prove
 * that they say what the journal says. This check, run by `npm run verify` (lib/evidence/verify.ts),
 * compares them, reusing the report's own derivation (loadEvidence + deriveOutcome), never a twin:
 *
 * - the seal's `outcome_stated` entry (what report.md was written with) is the journal's last entry
 *   and equals the verdict derived from the journal;
 * - report.md's Outcome line states that outcome and that reason (the reason carries the money
 *   statement: "before money moved", "money moved; open: …");
 * - the report cell's latest `outcome_stated` entry equals the verdict derived from the journal as it
 *   stood before it, and the notebook's report block, outcome line and banner, and the HTML export's,
 *   show that outcome.
 * A folder whose journal holds no seal `outcome_stated` was sealed before outcomes were journaled:
 * report.md is compared with the derivation as a warning only, and nothing else is checked.
 * verifier/verify_session.py makes the same comparisons against the entries (it cannot derive).
 * Text from the files is quoted, cut and never interpreted (`quoted`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { JournalEntry } from "../evidence/journal";
import type { EntryOf } from "../evidence/journal-entries";
import { REPORT_FILE, SESSION_HTML, SESSION_NOTEBOOK } from "../evidence/files";
import type { SessionSnapshot } from "../evidence/snapshot";
import type { VerifyFinding } from "../evidence/verify";
import { cellKeyOf, shownInCell } from "../evidence/outputs";
import { loadEvidence } from "./evidence";
import { inertText } from "./inert";
import { type Verdict, deriveOutcome } from "./verdict";

type Stated = EntryOf<"outcome_stated">;

/** A value from an untrusted file or the journal, in a finding: JSON-quoted (escapes), invisible controls shown, cut. */
export function quoted(s: string, max = 160): string {
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  return JSON.stringify(cut).replace(
    /[\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

// ------------------------------------------------------------------------------ what the files state

/** A line of the tool's own markup that states an outcome; `word` is what it says (PASS, FAIL, PARTIAL or anything an editor put there). */
export interface Claim {
  word: string;
  /** report.md only: the reason as written (inert Markdown). */
  reason?: string;
}

/**
 * The report block's Outcome line (templates/session-block.md). A line that starts like it but does
 * not parse is a claim of its whole text, so an edited line never goes unread.
 */
const BLOCK_PREFIX = "> **Outcome** : ";
const BLOCK_LINE = /^> \*\*Outcome\*\* : \*\*\S+ (\S+?)\*\* — (.*) _\(derived from the evidence, never typed\)_$/;
/** The report cell's own outcome line (`**Outcome: ✅ PASS** — …`) and the banner's title (`> ### ✅ Outcome: PASS`). */
const CELL_LINE = /^\*\*Outcome: \S+ (\S+?)\*\*/;
const BANNER_LINE = /^> ### \S+ Outcome: (\S+)$/;

/** The Outcome lines of a report block (report.md, or the block the report cell showed). */
export function blockClaims(md: string): Claim[] {
  return md
    .split(/\r?\n/)
    .filter((l) => l.startsWith(BLOCK_PREFIX))
    .map((l) => {
      const m = BLOCK_LINE.exec(l);
      return m ? { word: m[1], reason: m[2] } : { word: l.slice(BLOCK_PREFIX.length) };
    });
}

/** Every outcome a notebook's report and open cells show, in order: block lines, outcome lines, banners. */
export function notebookClaims(nbText: string): Claim[] {
  let nb: { cells?: Array<{ cell_type: string; source: string | string[]; outputs?: unknown[] }> };
  try {
    nb = JSON.parse(nbText);
  } catch {
    return [];
  }
  const out: Claim[] = [];
  for (const c of Array.isArray(nb.cells) ? nb.cells : []) {
    if (c.cell_type !== "code") continue;
    const key = cellKeyOf(Array.isArray(c.source) ? c.source.join("") : String(c.source ?? ""));
    if (key !== "report" && key !== "open") continue;
    for (const o of shownInCell(c as Parameters<typeof shownInCell>[0])) {
      if (o.kind !== "markdown") continue;
      if (key === "report") out.push(...blockClaims(o.data).map(({ word }) => ({ word })));
      for (const l of o.data.split(/\r?\n/)) {
        const m = (key === "report" ? CELL_LINE : BANNER_LINE).exec(l);
        if (m) out.push({ word: m[1] });
      }
    }
  }
  return out;
}

/**
 * The outcomes the HTML export shows: the same three lines as lib/host/html.ts renders them (bold and
 * a heading no escaped text can form: backend text reaches the page with `<` escaped).
 */
const HTML_CLAIMS = [
  /<strong>Outcome<\/strong> : <strong>\S+ ([^<\s]+)<\/strong>/g,
  /<strong>Outcome: \S+ ([^<\s]+)<\/strong>/g,
  /<h3>\S+ Outcome: ([^<\s]+)<\/h3>/g,
];
export function htmlClaims(html: string): Claim[] {
  return HTML_CLAIMS.flatMap((re) => [...html.matchAll(re)].map((m) => ({ word: m[1] })));
}

// ------------------------------------------------------------------------------ the check

const read = (dir: string, rel: string): string | null => {
  try {
    return fs.readFileSync(path.join(dir, rel), "utf8");
  } catch {
    return null;
  }
};

/** The journal's reason as stated, against a derived one: equal, or the stated one cut by the journal's text cap. */
function sameReason(e: Stated, reason: string): boolean {
  if (e.data.reason === reason) return true;
  const cut = e.data.truncated_from?.reason !== undefined;
  return cut && reason.startsWith(e.data.reason.replace(/…$/, ""));
}

function mismatch(subject: string, message: string): VerifyFinding {
  return { level: "error", subject, message, code: "OUTCOME_MISMATCH" };
}

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
function entryFindings(rel: string, e: Stated, d: { v: Verdict; moneyMoved: boolean }, who: string): VerifyFinding[] {
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
 * Every finding about the outcome a sealed folder states. `entries`: the journal as verified (null
 * when there is none to read). Never throws.
 * @example outcomeFindings(readSessionSnapshot(dir), snap.journal?.entries ?? null)
 */
export function outcomeFindings(snap: SessionSnapshot, entries: readonly JournalEntry[] | null): VerifyFinding[] {
  if (!entries?.length) return [];
  const rel = snap.journalRel;
  const stated = entries.filter((e): e is Stated & JournalEntry => e.kind === "outcome_stated");
  const seal = stated.filter((e) => e.data.by === "seal").at(-1);
  const report = read(snap.dir, REPORT_FILE);
  if (!seal) return legacyFindings(snap, report);

  const out: VerifyFinding[] = [];
  const full = verdictBefore(snap, null);
  if (typeof full === "string")
    return [{ level: "warning", subject: rel, message: `outcome not checked: ${quoted(full, 300)}` }];
  // Whatever follows the seal's statement was never stated to the auditor (a re-seal states again).
  const last = entries[entries.length - 1];
  if (last !== seal)
    out.push(
      mismatch(
        `${rel}:${seal.seq}`,
        `the seal's outcome is not the journal's last entry: ${entries.length - entries.indexOf(seal) - 1} entr(ies) follow it, up to ${last.kind} at line ${last.seq}`,
      ),
    );
  out.push(...entryFindings(rel, seal, full, "the seal"));

  if (report !== null) {
    const claims = blockClaims(report);
    const want = inertText(full.v.reason);
    if (!claims.length)
      out.push(mismatch(REPORT_FILE, `states no outcome; the journal's verdict is ${full.v.outcome}`));
    for (const c of claims) {
      if (c.word !== full.v.outcome)
        out.push(
          mismatch(REPORT_FILE, `states outcome ${quoted(c.word, 40)}, the journal's verdict is ${full.v.outcome}`),
        );
      else if (c.reason !== want)
        out.push(
          mismatch(
            REPORT_FILE,
            `states the reason ${quoted(c.reason ?? "")}, the journal's verdict reads ${quoted(want)}`,
          ),
        );
    }
  }

  // The notebook and its export show what the report cell stated, which is what the journal said then.
  const cell = stated.filter((e) => e.data.by === "report_cell").at(-1);
  if (cell) {
    const then = verdictBefore(snap, entries.indexOf(cell));
    if (typeof then !== "string") out.push(...entryFindings(rel, cell, then, "the report cell"));
  }
  for (const [file, claims] of [
    [SESSION_NOTEBOOK, notebookClaims(read(snap.dir, SESSION_NOTEBOOK) ?? "")],
    [SESSION_HTML, htmlClaims(read(snap.dir, SESSION_HTML) ?? "")],
  ] as const) {
    const wrong = claims.filter((c) => c.word !== cell?.data.outcome);
    if (!wrong.length) continue;
    out.push(
      mismatch(
        file,
        cell
          ? `shows outcome ${quoted(wrong[0].word, 40)}, the report cell stated ${cell.data.outcome} (${rel}:${cell.seq})`
          : `shows outcome ${quoted(wrong[0].word, 40)}, but the journal records no outcome stated by the report cell`,
      ),
    );
  }
  if (!out.length)
    out.push({
      level: "ok",
      subject: REPORT_FILE,
      message: `states outcome ${full.v.outcome}, the journal's verdict (${rel}:${seal.seq})`,
    });
  return out;
}

/** Sealed before outcomes were journaled: report.md against the derivation, said but not failed. */
function legacyFindings(snap: SessionSnapshot, report: string | null): VerifyFinding[] {
  if (report === null) return [];
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
