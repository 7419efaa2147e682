/**
 * Truth, not only integrity: what a sealed folder states as the outcome is what its journal recorded
 * stating. A seal proves that report.md, the notebook and the HTML export did not change since; it
 * does not prove that they say what the journal says. The tool journals each outcome it states
 * (`outcome_stated`: the report cell before it shows it, the seal after writing report.md), and this
 * check, part of every verify of a sealed folder (./verify.ts), holds the files to those entries:
 *
 * - the seal's entry is the journal's last entry (a re-seal states again);
 * - report.md's Outcome line states the seal's outcome and reason (the reason carries the money
 *   statement: "before money moved", "money moved; open: …");
 * - the notebook's report block, outcome line and banner, and the HTML export's, show the outcome the
 *   report cell stated (its latest entry).
 * - the living report's block for the session (docs/PAYMENT_E2E_LIVE_REPORT.md), when its anchor
 *   names this seal's manifest, states the seal's outcome and reason as report.md must
 *   (`livingReportFindings`, given the report by `npm run verify --report`).
 * verifier/verify_session.py makes the same comparisons (parity). `npm run verify` also holds each
 * entry to the verdict derived from the journal (lib/report/outcome-check.ts, above this layer).
 * A folder whose journal holds no seal entry was sealed before outcomes were journaled: not checked here.
 * Text from the files is quoted, cut and never interpreted (`quoted`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { JournalEntry } from "./journal";
import type { EntryOf } from "./journal-entries";
import { REPORT_FILE, SESSION_HTML, SESSION_NOTEBOOK } from "./files";
import type { SessionSnapshot } from "./snapshot";
import type { VerifyFinding } from "./verify";
import { cellKeyOf, shownInCell } from "./outputs";
import { readBlock, sessionMarkers } from "./anchor";

type Stated = EntryOf<"outcome_stated">;

/** A value from an untrusted file or the journal, in a finding: JSON-quoted (escapes), invisible controls shown, cut. */
export function quoted(s: string, max = 160): string {
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  return JSON.stringify(cut).replace(
    /[\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * Characters no reader sees as themselves, which change what a line appears to say: C0 controls
 * other than NUL and the line breaks and tab (ESC starts the sequences a terminal obeys when report.md
 * or the living report is read with `cat`: erase a line, move the cursor, conceal what follows), DEL
 * and C1 (0x9b is a one-byte CSI), the soft hyphen, bidi marks, embeddings, overrides and isolates,
 * zero-width characters, the Unicode line and paragraph separators.
 */
const INVISIBLE =
  /[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/g;

/**
 * Each invisible character (above) as its `\uXXXX` escape, so it is seen and never acted on; every
 * other character as it is. What lib/report/inert.ts writes for them into
 * report.md, the notebook and the living report, and the terminal's lines show (`terminalLine`, below).
 * @example shownControls("PASS\u202e") // "PASS\\u202e"
 */
export function shownControls(s: string): string {
  return s.replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * A line printed to the operator's terminal that may carry backend or file text (a product title, an
 * error, a finding): each character a terminal acts on instead of showing (ESC starts the sequences
 * that move the cursor, erase a line or conceal what follows; a carriage return rewrites the line),
 * and each invisible one (`shownControls`, above), shown as its `\uXXXX` escape (`\n` and `\r` kept
 * short), so a backend string cannot paint "GO" over a "NO-GO", hide the verdict that follows, forge
 * a line of its own or reverse what is read (lib/cli/args.ts re-exports it). A tab stays a tab.
 * @example terminalLine("E2E \u001b[8m") // "E2E \\u001b[8m"
 */
export function terminalLine(s: string): string {
  return shownControls(s.replace(/[\0\n\r]/g, (c) => (c === "\n" ? "\\n" : c === "\r" ? "\\r" : "\\u0000")));
}

/** Several lines (a table, a usage block): each line as `terminalLine`, the tool's own line breaks kept. */
export const terminalText = (s: string): string => s.split("\n").map(terminalLine).join("\n");

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

/** The text an inert Markdown span renders as: every backslash escape undone (inert text adds nothing else). */
export function inertPlain(md: string): string {
  return md.replace(/\\([\s\S])/g, "$1");
}

/** A reason as the report writes it on one line: line breaks and the blanks around them become a space. */
const oneLineReason = (text: string) => text.replace(/\s*(?:\r\n|\r|\n)\s*/g, " ").replaceAll("\0", "\ufffd");

/** The reason an entry states, against one written or derived: equal, or the entry's cut by the journal's text cap. */
export function sameReason(e: Stated, written: string): boolean {
  // A verdict derived from the journal carries a backend's line breaks as they came; report.md one line.
  const w = oneLineReason(written);
  const raw = oneLineReason(e.data.reason);
  // Written with its invisible characters shown (`shownControls`, above), or, by a tool older than
  // that, as they are.
  const cut = e.data.truncated_from?.reason !== undefined;
  return [shownControls(raw), raw].some((stated) => w === stated || (cut && w.startsWith(stated.replace(/…$/, ""))));
}

export function mismatch(subject: string, message: string): VerifyFinding {
  return { level: "error", subject, message, code: "OUTCOME_MISMATCH" };
}

/** The `outcome_stated` entries of a journal: every one, the seal's latest and the report cell's latest. */
export function statedEntries(entries: readonly JournalEntry[]): {
  seal: (Stated & JournalEntry) | undefined;
  cell: (Stated & JournalEntry) | undefined;
} {
  const stated = entries.filter((e): e is Stated & JournalEntry => e.kind === "outcome_stated");
  return {
    seal: stated.filter((e) => e.data.by === "seal").at(-1),
    cell: stated.filter((e) => e.data.by === "report_cell").at(-1),
  };
}

/** A report block's Outcome line against the seal's entry: its outcome, then its reason (inert Markdown undone). */
function claimFindings(subject: string, c: Claim, seal: Stated & JournalEntry, rel: string): VerifyFinding[] {
  if (c.word !== seal.data.outcome)
    return [
      mismatch(
        subject,
        `states outcome ${quoted(c.word, 40)}, the seal recorded ${seal.data.outcome} (${rel}:${seal.seq})`,
      ),
    ];
  if (c.reason === undefined || !sameReason(seal, inertPlain(c.reason)))
    return [
      mismatch(
        subject,
        `states the reason ${quoted(inertPlain(c.reason ?? ""))}, the seal recorded ${quoted(seal.data.reason)}`,
      ),
    ];
  return [];
}

/**
 * The living report's block for this session, when its anchor names this seal's manifest (it was
 * published from this sealed journal): every Outcome line in it states the seal's outcome and reason,
 * as report.md must. A block anchored to another seal is the anchor check's finding; a block with no
 * Outcome line states no outcome and is not held here. `reportText`: the living report (null: none);
 * `shown`: its name in findings. Never throws.
 * @example livingReportFindings(snap, trustedEntries(snap), fs.readFileSync(report, "utf8"), "docs/PAYMENT_E2E_LIVE_REPORT.md")
 */
export function livingReportFindings(
  snap: SessionSnapshot,
  entries: readonly JournalEntry[] | null,
  reportText: string | null,
  shown: string,
): VerifyFinding[] {
  if (!entries?.length || reportText === null || !snap.manifest || snap.manifestSha256 === null) return [];
  const { seal } = statedEntries(entries);
  const id = snap.manifest.session_id;
  if (!seal || readBlock(reportText, id)?.anchor?.manifestSha256 !== snap.manifestSha256) return [];
  const { open, close } = sessionMarkers(id);
  const start = reportText.indexOf(open);
  const end = reportText.indexOf(close, start);
  const first = reportText.slice(0, start).split("\n").length;
  const out: VerifyFinding[] = [];
  let stated = 0;
  reportText
    .slice(start, end < 0 ? undefined : end)
    .split("\n")
    .forEach((line, i) => {
      for (const c of blockClaims(line.replace(/\r$/, ""))) {
        stated++;
        out.push(...claimFindings(`${shown}:${first + i}`, c, seal, snap.journalRel));
      }
    });
  if (stated && !out.length)
    out.push({
      level: "ok",
      subject: shown,
      message: `the session's block states outcome ${seal.data.outcome}, as the seal recorded it (${snap.journalRel}:${seal.seq})`,
    });
  return out;
}

/**
 * Every finding about what a sealed folder's files state against the journal's `outcome_stated`
 * entries. `entries`: the journal as verified, intact (null when there is none to trust). Never throws.
 * @example statedOutcomeFindings(snap, journalIntact ? journal.entries : null)
 */
export function statedOutcomeFindings(snap: SessionSnapshot, entries: readonly JournalEntry[] | null): VerifyFinding[] {
  if (!entries?.length) return [];
  const rel = snap.journalRel;
  const { seal, cell } = statedEntries(entries);
  if (!seal) return [];
  const out: VerifyFinding[] = [];
  const last = entries[entries.length - 1];
  if (last !== seal)
    out.push(
      mismatch(
        `${rel}:${seal.seq}`,
        `the seal's outcome is not the journal's last entry: ${entries.length - entries.indexOf(seal) - 1} entr(ies) follow it, up to ${last.kind} at line ${last.seq}`,
      ),
    );
  const report = read(snap.dir, REPORT_FILE);
  if (report !== null) {
    const claims = blockClaims(report);
    if (!claims.length) out.push(mismatch(REPORT_FILE, `states no outcome; the seal recorded ${seal.data.outcome}`));
    for (const c of claims) out.push(...claimFindings(REPORT_FILE, c, seal, rel));
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
      message: `states outcome ${seal.data.outcome}, as the seal recorded it (${rel}:${seal.seq})`,
    });
  return out;
}
