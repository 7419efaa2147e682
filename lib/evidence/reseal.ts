/**
 * Re-seals that prove what they replace (issue 24 §2). `npm run archive --reseal` appends a trace
 * note naming the replaced manifest and its chain heads, and writes reseal-<k>.json (signed by
 * ./signature.ts). `resealFindings` checks every note against the chains: the replaced seal's heads
 * must still be the chains' hashes at its line counts, so a rewritten sealed line is caught, and a
 * note without them proves nothing. `statementFindings` (staging/live) pairs notes and statements.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { GENESIS, readTrace } from "./chain";
import { MANIFEST_FILE, TRACE_FILE, JOURNAL_FILE } from "./files";
import { sha256File } from "./manifest";
import type { VerifyFinding } from "./verify";

export const RESEAL_SCHEMA = "payment-e2e/reseal@1";
/** The trace note's event a re-seal writes (host/archive.ts); the report lists each as an anomaly. */
export const RESEAL_NOTE_EVENT = "re-sealed by npm run archive --reseal";
/** A statement (not its signature); files.ts RESEAL_STATEMENT_RE names both as seal companions. */
export const RESEAL_RE = /^reseal-(\d+)\.json$/;

/** What a re-seal statement says; signed as its canonical JSON under RESEAL_NAMESPACE. */
export interface ResealStatement {
  schema: typeof RESEAL_SCHEMA;
  session_id: string;
  resealed_at: string;
  reason: string;
  previous_manifest_sha256: string;
  manifest_sha256: string;
  previous_trace_head: string;
  previous_trace_lines: number;
  previous_journal_head: string | null;
  previous_journal_lines: number | null;
}

/** The re-seal statements beside a manifest, by number: [k, file]. */
export function resealStatements(sessionDir: string): Array<[number, string]> {
  if (!fs.existsSync(sessionDir)) return [];
  return fs
    .readdirSync(sessionDir)
    .map((n) => [Number(RESEAL_RE.exec(n)?.[1] ?? Number.NaN), path.join(sessionDir, n)] as [number, string])
    .filter(([k]) => Number.isInteger(k))
    .sort((a, b) => a[0] - b[0]);
}

/** A re-seal note of the trace (written by `npm run archive --reseal`) and its line. */
interface ResealNote {
  line: number;
  previous_manifest_sha256: string;
  previous_trace_head?: unknown;
  previous_trace_lines?: unknown;
  previous_journal_head?: unknown;
  previous_journal_lines?: unknown;
}

/** Hash of a chain at line n (GENESIS at 0), or undefined when fewer lines verify. */
const headAt = (records: ReadonlyArray<{ hash?: string }>, n: number) => (n === 0 ? GENESIS : records[n - 1]?.hash);

/**
 * Every re-seal note against the chains as they verify now: the replaced seal's trace and journal
 * heads must still be the hashes at its line counts (a rewrite of a sealed line breaks this, and no
 * re-seal can hide it); a note without those heads proves nothing and is an error.
 */
export function resealFindings(
  trace: ReadonlyArray<{ seq: number; type: string; payload: unknown; hash?: string }>,
  journal: ReadonlyArray<{ hash?: string }>,
): VerifyFinding[] {
  const out: VerifyFinding[] = [];
  const notes: ResealNote[] = [];
  for (const e of trace) {
    const p = e.payload as Record<string, unknown> | null;
    if (e.type === "note" && p && typeof p.previous_manifest_sha256 === "string")
      notes.push({ ...(p as Omit<ResealNote, "line">), line: e.seq });
  }
  for (const n of notes) {
    const at = `${TRACE_FILE}:${n.line}`;
    const old = n.previous_manifest_sha256.slice(0, 12);
    if (typeof n.previous_trace_head !== "string" || !Number.isInteger(n.previous_trace_lines)) {
      out.push({
        level: "error",
        code: "RESEAL_BROKEN",
        subject: at,
        message: `re-seal note over manifest ${old}… does not record the replaced seal's chain heads: it cannot prove what it replaced`,
      });
      continue;
    }
    const checks: Array<[string, ReadonlyArray<{ hash?: string }>, unknown, unknown]> = [
      [TRACE_FILE, trace, n.previous_trace_head, n.previous_trace_lines],
    ];
    if (typeof n.previous_journal_head === "string")
      checks.push([JOURNAL_FILE, journal, n.previous_journal_head, n.previous_journal_lines]);
    let ok = true;
    for (const [file, records, head, lines] of checks) {
      const count = Number(lines);
      if (headAt(records, count) === head) continue;
      ok = false;
      out.push({
        level: "error",
        code: "RESEAL_BROKEN",
        subject: `${file}:${count}`,
        message: `hash of line ${count} differs from the chain head of the seal (manifest ${old}…) that the re-seal at ${at} replaced: a sealed line was rewritten`,
      });
    }
    if (ok)
      out.push({
        level: "ok",
        subject: at,
        message: `re-seal over manifest ${old}…: its sealed lines are intact`,
      });
  }
  return out;
}

/**
 * The re-seal statements against the trace's re-seal notes, in order: statement k names the manifest
 * that note k replaced, the newest names the manifest in force. Staging and live only (a sandbox
 * re-seal may be unsigned and its statement is then not required).
 */
export function statementFindings(sessionDir: string, strict: boolean): VerifyFinding[] {
  if (!strict) return [];
  const out: VerifyFinding[] = [];
  let notes: Array<{ seq: number; sha: string }> = [];
  try {
    notes = readTrace(path.join(sessionDir, TRACE_FILE))
      .map((e) => ({ seq: e.seq, p: e.payload as Record<string, unknown> | null, type: e.type }))
      .filter((e) => e.type === "note" && typeof e.p?.previous_manifest_sha256 === "string")
      .map((e) => ({ seq: e.seq, sha: String(e.p?.previous_manifest_sha256) }));
  } catch {
    return out; // a broken trace is verifySession's error
  }
  const stmts = resealStatements(sessionDir);
  const read = (file: string): Partial<ResealStatement> | null => {
    try {
      return JSON.parse(fs.readFileSync(file, "utf8")) as Partial<ResealStatement>;
    } catch {
      return null;
    }
  };
  notes.forEach((n, i) => {
    const name = `reseal-${i + 1}.json`;
    const st = stmts[i] && stmts[i][0] === i + 1 ? read(stmts[i][1]) : null;
    if (!st)
      out.push({
        level: "error",
        code: "RESEAL_BROKEN",
        subject: name,
        message: `missing or unreadable: the re-seal at ${TRACE_FILE}:${n.seq} has no signed statement`,
      });
    else if (st.previous_manifest_sha256 !== n.sha)
      out.push({
        level: "error",
        code: "RESEAL_BROKEN",
        subject: name,
        message: `names the replaced manifest ${String(st.previous_manifest_sha256).slice(0, 12)}…, the re-seal at ${TRACE_FILE}:${n.seq} names ${n.sha.slice(0, 12)}…`,
      });
  });
  if (stmts.length > notes.length)
    out.push({
      level: "error",
      code: "RESEAL_BROKEN",
      subject: path.basename(stmts[notes.length][1]),
      message: `a re-seal statement with no re-seal note in ${TRACE_FILE}`,
    });
  const newest = stmts.length ? read(stmts[stmts.length - 1][1]) : null;
  const current = sha256File(path.join(sessionDir, MANIFEST_FILE));
  if (newest && stmts.length === notes.length && newest.manifest_sha256 !== current)
    out.push({
      level: "error",
      code: "RESEAL_BROKEN",
      subject: path.basename(stmts[stmts.length - 1][1]),
      message: `names the new manifest ${String(newest.manifest_sha256).slice(0, 12)}…, but ${MANIFEST_FILE} is ${current.slice(0, 12)}…`,
    });
  return out;
}
