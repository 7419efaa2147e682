/**
 * One session folder, read once (issue 21 item 5): the manifest (or why there is none), the
 * journal and the trace checked against the seal, the trace's events, the file list, and the
 * session's id and mode as the session recorded them. Verify, the report, the archive step and
 * the comparison take this value instead of a path each of them reads again.
 * The id and mode come from the manifest and the journal (`session_created`), never from the
 * folder's name: a name that disagrees with them is verify's identity finding (./identity.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { EvidenceError } from "../errors";
import type { Mode } from "../types";
import {
  type ChainBreak,
  type ChainCheck,
  TRACE_FORMAT,
  type TraceEvent,
  checkChainFile,
  checkChainText,
  cutAtNonUtf8,
  firstNonUtf8Line,
} from "./chain";
import { JOURNAL_FILE, MANIFEST_FILE, TRACE_FILE } from "./files";
import { type JournalRead, firstOf, readJournalFile } from "./journal";
import { MANIFEST_SCHEMA_V1, type Manifest, listSessionFiles, readManifest, sha256File } from "./manifest";

export interface SessionSnapshot {
  dir: string;
  /** The session id: the manifest's, else the journal's `session_created`; null when neither says. */
  id: string | null;
  /** The mode, from the same records as `id`. */
  mode: Mode | null;
  /** Whether manifest.json exists (it may still be unreadable: see `manifestError`). */
  sealed: boolean;
  manifest: Manifest | null;
  /** Why manifest.json could not be read (absent, or it does not parse); null when `manifest` is set. */
  manifestError: string | null;
  /** SHA-256 of manifest.json's bytes, null when absent. */
  manifestSha256: string | null;
  /** The journal's path relative to the folder (the manifest's `journal_file` when it names one). */
  journalRel: string;
  /**
   * The journal as read against the manifest's journal head and line count (a manifest@2 seal), or
   * on its own; null when the file is absent.
   */
  journal: JournalRead | null;
  /** The trace's path relative to the folder (the manifest's `trace_file` when sealed). */
  traceRel: string;
  /** The trace; null when absent. */
  trace: {
    /** Its chain against the seal (when sealed). */
    chain: ChainCheck;
    /** The events up to the first broken line: the ones the chain vouches for. */
    events: TraceEvent[];
    /** Every line that parses as JSON, past a break too: what the report shows (the chain says what is vouched for). */
    lines: TraceEvent[];
    torn: boolean;
  } | null;
  /** Every file in the folder a seal would list (lib/evidence/manifest.ts listSessionFiles). */
  files: string[];
}

/**
 * Reads a session folder into one value; never throws for what is in the files (a broken chain, a
 * manifest that does not parse): those are fields the callers judge.
 * @example const s = readSessionSnapshot("archive/payment-e2e/20261126T154400Z-live"); s.mode // "live"
 */
export function readSessionSnapshot(dir: string): SessionSnapshot {
  const sealed = fs.existsSync(path.join(dir, MANIFEST_FILE));
  let manifest: Manifest | null = null;
  let manifestError: string | null = null;
  try {
    manifest = readManifest(dir);
  } catch (err) {
    manifestError = err instanceof EvidenceError ? err.message : String(err);
  }
  const manifestSha256 = sealed ? sha256File(path.join(dir, MANIFEST_FILE)) : null;
  const journalRel = manifest?.journal_file ?? JOURNAL_FILE;
  const journalFile = path.join(dir, ...journalRel.split("/"));
  // A manifest@1 seal never chained the journal: it is read on its own.
  const journalSeal =
    manifest && manifest.schema !== MANIFEST_SCHEMA_V1
      ? { lines: manifest.journal_lines, head: manifest.journal_head }
      : undefined;
  const journal = fs.existsSync(journalFile) ? readJournalFile(journalFile, journalSeal) : null;
  const traceRel = manifest?.trace_file ?? TRACE_FILE;
  const traceFile = path.join(dir, ...traceRel.split("/"));
  let trace: SessionSnapshot["trace"] = null;
  if (fs.existsSync(traceFile)) {
    const seal = manifest ? { lines: manifest.trace_lines, head: manifest.chain_head } : undefined;
    let buf: Buffer | null = null;
    try {
      buf = fs.readFileSync(traceFile);
    } catch {
      // checkChainFile says why, as a break at line 0
    }
    if (buf) {
      const text = buf.toString("utf8");
      const check = cutAtNonUtf8(checkChainText(TRACE_FORMAT, text, seal), firstNonUtf8Line(buf));
      const { records, torn, ...chain } = check;
      trace = { chain, events: records, lines: parseableLines(text), torn };
    } else {
      const { records, torn, ...chain } = checkChainFile(TRACE_FORMAT, traceFile, seal);
      trace = { chain, events: records, lines: [], torn };
    }
  }
  const created = journalIdentity(journal);
  return {
    dir,
    id: manifest?.session_id ?? created.id,
    mode: (manifest?.mode as Mode | undefined) ?? created.mode,
    sealed,
    manifest,
    manifestError,
    manifestSha256,
    journalRel,
    journal,
    traceRel,
    trace,
    files: fs.existsSync(dir) ? listSessionFiles(dir) : [],
  };
}

/** The breaks that only compare a chain with its seal (a cut tail, lines added, a rewritten head). */
export const SEAL_KINDS: ReadonlySet<ChainBreak["kind"]> = new Set(["missing", "rewritten", "extra"]);

/**
 * A chain check as it reads on its own, without the seal's expectation: what the report and the
 * notebook judge (lines added after the seal do not break the chain; the manifest is then stale).
 */
export function unsealedChain<C extends ChainCheck>(check: C): C {
  if (!check.firstBroken || !SEAL_KINDS.has(check.firstBroken.kind)) return check;
  return { ...check, ok: true, firstBroken: undefined };
}

/**
 * The id and mode a folder's session recorded (journal `session_created`), without reading the
 * rest of it; null when the folder holds no session journal.
 */
export function recordedIdentity(dir: string): { id: string | null; mode: Mode | null } | null {
  const file = path.join(dir, JOURNAL_FILE);
  if (!fs.existsSync(file)) return null;
  return journalIdentity(readJournalFile(file));
}

/** The id and mode the journal's `session_created` entry records (null where it says nothing). */
function journalIdentity(journal: JournalRead | null): { id: string | null; mode: Mode | null } {
  const created = journal ? firstOf(journal.entries, "session_created") : undefined;
  return { id: created?.data.sessionId ?? null, mode: created?.data.mode ?? null };
}

function parseableLines(text: string): TraceEvent[] {
  return text.split("\n").flatMap((l) => {
    if (!l.trim()) return [];
    try {
      return [JSON.parse(l) as TraceEvent];
    } catch {
      return []; // a torn or edited line: the chain check names it
    }
  });
}
