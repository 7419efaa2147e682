/**
 * Over 300 lines, not split: the journal's bytes, reader, writer and shared readings belong together; split, the journal would have two homes.
 *
 * The session's durable, append-only state journal (`state.jsonl`). Every state change is written
 * (and fsync'd) BEFORE it is acted on, so a killed kernel or a re-run cell resumes instead of
 * creating a second order or refund. Values are redacted before they are written, then hashed:
 * entries are chained like the trace (./chain.ts; issue 13), so the verdict and the "passed dry
 * run" gate computed from them cannot be edited unseen. One reader (`readJournalFile`, and
 * `Journal.open` over it); every entry is checked against its kind's schema when written and when
 * read (./journal-entries.ts: the entry types, so readers never cast). A torn last line (a kernel
 * killed mid-write) is moved to `state.quarantine.jsonl` before the next append, and recorded.
 * The
 * money rules (moved, outstanding, refunds by amount) are not here: they are lib/run/ledger.ts,
 * and neither module here knows a step id.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { appendWhole } from "./append";
import * as path from "node:path";
import { SessionError } from "../errors";
import { canonicalJson, sha256, toJsonValue } from "./canonical";
import {
  type ChainBreak,
  type ChainCheck,
  type ChainExpectation,
  type ChainFormat,
  GENESIS,
  checkChainText,
  cutAtNonUtf8,
  firstNonUtf8Line,
  isTornTail,
} from "./chain";
import { chainBreakText } from "./finding-text";
import { JOURNAL_FILE, JOURNAL_QUARANTINE_FILE, TRACE_FILE } from "./files";
import { capStrings, redact, redactString } from "./redact";
import { Trace } from "./trace";
import type { Mode, StepResult } from "../types";
import {
  type DataIn,
  type EntryOf,
  type JournalEntry,
  type JournalKind,
  isKind,
  lastOf,
  parseEntry,
  stepResultOf,
} from "./journal-entries";

export {
  allOf,
  type DataIn,
  type DataOf,
  type EntryOf,
  firstOf,
  isKind,
  JOURNAL_KINDS,
  type JournalEntry,
  type JournalKind,
  lastOf,
} from "./journal-entries";

/**
 * Characters of one string an entry keeps, as many as the trace keeps of a body
 * (HTTP_DEFAULTS.maxBodyLogChars): backend text (a product title) is cut after redaction, and the
 * entry's `truncated_from` names each cut string and its length (issue 25).
 */
export const JOURNAL_TEXT_MAX = 20 * 1000;

type ChainedEntry = JournalEntry & { prev: string; hash: string };

// ------------------------------------------------------------------------------------ format

/** What a line's bytes and hash are made of: any kind and data (a test re-chains edited lines with it). */
interface EntryBytes {
  seq: number;
  at: string;
  kind: string;
  data: unknown;
  prev: string;
}

/** The hash of an entry: SHA-256 over the canonical JSON of every field but `hash`. */
export function entryHash(e: EntryBytes): string {
  return sha256(canonicalJson({ seq: e.seq, at: e.at, kind: e.kind, data: e.data, prev: e.prev }));
}

/** The exact bytes of one line (without newline): fixed field order, canonical data. */
export function serializeEntry(e: EntryBytes & { hash: string }): string {
  return (
    `{"seq":${e.seq},"at":${JSON.stringify(e.at)},"kind":${JSON.stringify(e.kind)},` +
    `"data":${canonicalJson(e.data)},"prev":${JSON.stringify(e.prev)},"hash":${JSON.stringify(e.hash)}}`
  );
}

export const JOURNAL_FORMAT: ChainFormat<ChainedEntry> = {
  noun: "journal",
  parse(json) {
    const r = parseEntry(json, true);
    if ("problem" in r) return { error: r.problem };
    const { entry } = r;
    // Always true here (the chained schema requires both); says so to the type.
    return entry.prev !== undefined && entry.hash !== undefined
      ? { record: { ...entry, prev: entry.prev, hash: entry.hash } }
      : { error: "not a journal entry: prev and hash are required" };
  },
  serialize: serializeEntry,
  hash: entryHash,
  // parse's record is the parsed line itself (the schema keeps no transform), prev and hash present.
  accepted: (json) => json as ChainedEntry,
};

// ------------------------------------------------------------------------------------ the reader

/** A journal as read: its entries up to the first broken line, and whether the chain holds. */
export interface JournalRead extends ChainCheck {
  file: string;
  entries: JournalEntry[];
  /** False for a journal written before entries were chained: readable, never appended to or trusted as a dry run. */
  chained: boolean;
  /** Bytes after the last newline (a write cut short), or null. firstBroken names its line too. */
  torn: { bytes: number; sha256: string; text: string } | null;
}

/**
 * Reads a journal file without changing it: the one reader behind Journal.open, verify and the
 * report. With `expected` (the manifest's journal_lines/journal_head) a cut tail, extra lines or a
 * rewritten chain are named too. Never throws for content; a missing file reads as broken at line 0.
 * @example readJournalFile("archive/payment-e2e/<id>/state.jsonl").firstBroken // { line: 4, kind: "hash" }
 */
export function readJournalFile(file: string, expected?: ChainExpectation): JournalRead {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    const firstBroken: ChainBreak = { line: 0, kind: "unreadable", detail: (err as Error).message };
    return { file, ok: false, lines: 0, head: GENESIS, firstBroken, entries: [], chained: true, torn: null };
  }
  const cut = buf.lastIndexOf(0x0a) + 1;
  const fragment = buf.subarray(cut);
  const torn = fragment.length
    ? { bytes: fragment.length, sha256: sha256Bytes(fragment), text: fragment.toString("utf8") }
    : null;
  const text = buf.toString("utf8");
  if (isLegacy(text)) return readLegacy(file, text, torn);
  const { records, ...check } = cutAtNonUtf8(checkChainText(JOURNAL_FORMAT, text, expected), firstNonUtf8Line(buf));
  return { file, ...check, entries: records, chained: true, torn };
}

const sha256Bytes = (b: Buffer): string => crypto.createHash("sha256").update(b).digest("hex");

/** The first line is an entry without prev and hash: written before the journal was chained. */
function isLegacy(text: string): boolean {
  const first = text.slice(0, text.indexOf("\n") + 1 || undefined).trim();
  try {
    const j = JSON.parse(first) as Record<string, unknown>;
    return typeof j === "object" && j !== null && !("hash" in j) && !("prev" in j);
  } catch {
    return false;
  }
}

function readLegacy(file: string, text: string, torn: JournalRead["torn"]): JournalRead {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const entries: JournalEntry[] = [];
  const out: JournalRead = { file, ok: true, lines: 0, head: GENESIS, entries, chained: false, torn };
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    let r: ReturnType<typeof parseEntry> | { broken: ChainBreak };
    try {
      r = parseEntry(JSON.parse(lines[i]), false);
    } catch {
      r = { broken: { line: n, kind: torn && n === lines.length ? "torn" : "not_json" } };
    }
    if ("broken" in r) return { ...out, ok: false, firstBroken: r.broken };
    if ("problem" in r) return { ...out, ok: false, firstBroken: { line: n, kind: "not_record", detail: r.problem } };
    entries.push(r.entry);
    out.lines = n;
  }
  return out;
}

export function nowIso(): string {
  return new Date().toISOString();
}

/** `20261126T154400Z-live`: sortable, filesystem-safe, and names the mode. */
export function newSessionId(mode: Mode, at: Date = new Date(), suffix = ""): string {
  return `${at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}${suffix ? `-${suffix}` : ""}-${mode}`;
}

export function sessionDir(archiveDir: string, sessionId: string): string {
  return path.join(archiveDir, sessionId);
}

/** A torn tail set aside before an append: what `journal_repaired` and the trace anomaly record. */
export interface JournalRepair {
  bytes: number;
  sha256: string;
  quarantine_file: typeof JOURNAL_QUARANTINE_FILE;
  /** The journal line of the `journal_repaired` entry. */
  line: number;
  /** One sentence for the anomaly. */
  message: string;
}

const restoreHint = (file: string) =>
  `do not edit evidence by hand; restore it (git checkout -- ${path.dirname(file)} for a committed session, or from your copy)`;

export class Journal {
  readonly file: string;
  private entries: JournalEntry[];
  private read: JournalRead;
  /** File size after our last read or write: a different size means another writer appended. */
  private bytes: number;
  /** The file's modification time when this session last read or wrote it: a same-size rewrite changes it. */
  private mtimeMs: number;
  /**
   * Called with a torn-tail repair, to record the anomaly (the session sets it to its own anomaly
   * recorder). Unset: the repair is written as an `anomaly` to the folder's trace, if there is one.
   */
  onRepair: ((r: JournalRepair) => void) | null = null;

  private constructor(file: string, read: JournalRead) {
    this.file = file;
    this.read = read;
    this.entries = read.entries;
    this.bytes = fs.existsSync(file) ? fs.statSync(file).size : 0;
    this.mtimeMs = fs.existsSync(file) ? fs.statSync(file).mtimeMs : 0;
  }

  /**
   * Opens an existing session's journal. Refuses a folder that was never created by `create`, and
   * a journal whose chain is broken anywhere but a torn last line (naming the file and line).
   */
  static open(dir: string): Journal {
    const file = path.join(dir, JOURNAL_FILE);
    if (!fs.existsSync(file)) {
      throw new SessionError(
        `no session journal at ${file}; create the session with \`npm run session -- --mode <mode>\` first`,
      );
    }
    return new Journal(file, checkedJournal(readJournalFile(file)));
  }

  /** Creates a fresh session folder and journal. Starting a fresh session is always explicit. */
  static create(dir: string, data: DataIn<"session_created">): Journal {
    const file = path.join(dir, JOURNAL_FILE);
    if (fs.existsSync(file)) {
      throw new SessionError(`session ${data.sessionId} already exists; re-use it (resume) or create a new one`);
    }
    fs.mkdirSync(dir, { recursive: true });
    const empty: JournalRead = { file, ok: true, lines: 0, head: GENESIS, entries: [], chained: true, torn: null };
    const j = new Journal(file, empty);
    j.append("session_created", data);
    return j;
  }

  /** False for a journal written before entries were chained: readable, never appended to. */
  get chained(): boolean {
    return this.read.chained;
  }

  /** Hash of the last entry (GENESIS when empty, or for an unchained journal). */
  get head(): string {
    return this.entries.at(-1)?.hash ?? GENESIS;
  }

  /** Number of entries (== the last seq). */
  get seq(): number {
    return this.entries.length;
  }

  /** Bytes of a torn last line waiting to be repaired by the next append, or null. */
  get tornTail(): JournalRead["torn"] {
    return this.read.torn;
  }

  /** Chains and appends one redacted entry, fsynced before returning; repairs a torn tail first. */
  append<K extends JournalKind>(kind: K, data: DataIn<K>): EntryOf<K> {
    this.resync();
    if (!this.read.chained)
      throw new SessionError(
        `journal ${this.file} was written by an older tool (entries not hash-chained) and is never appended to; start a new session: npm run session -- --mode <mode>`,
      );
    if (this.read.torn) this.repairTail();
    return this.write(kind, data);
  }

  /**
   * Sets a torn last line aside: its bytes go to `state.quarantine.jsonl` (size, SHA-256 and
   * redacted text), the journal is cut back to its last newline, a `journal_repaired` entry is
   * appended and the anomaly recorded (onRepair, or the folder's trace). Nothing before the tear
   * is lost. Returns null when there is nothing to repair.
   */
  repairTail(): JournalRepair | null {
    this.resync();
    const torn = this.read.torn;
    if (!torn || !this.read.chained) return null;
    const dir = path.dirname(this.file);
    const quarantine = path.join(dir, JOURNAL_QUARANTINE_FILE);
    const record = { at: nowIso(), bytes: torn.bytes, sha256: torn.sha256, fragment: redactString(torn.text) };
    appendSynced(quarantine, `${canonicalJson(record)}\n`);
    const keep = this.bytes - torn.bytes;
    fs.truncateSync(this.file, keep);
    this.bytes = keep;
    this.read = { ...this.read, torn: null, firstBroken: undefined, ok: true };
    const entry = this.write("journal_repaired", {
      bytes: torn.bytes,
      sha256: torn.sha256,
      quarantine_file: JOURNAL_QUARANTINE_FILE,
    });
    const repair: JournalRepair = {
      bytes: torn.bytes,
      sha256: torn.sha256,
      quarantine_file: JOURNAL_QUARANTINE_FILE,
      line: entry.seq,
      message: `journal ${JOURNAL_FILE} ended in a torn write (${torn.bytes} byte(s), sha256 ${torn.sha256}): set aside in ${JOURNAL_QUARANTINE_FILE}, recorded as journal_repaired at line ${entry.seq}; nothing before it was lost`,
    };
    if (this.onRepair) this.onRepair(repair);
    else if (fs.existsSync(path.join(dir, TRACE_FILE)))
      Trace.open(path.join(dir, TRACE_FILE)).append("anomaly", {
        at: nowIso(),
        step: null,
        kind: "warning",
        message: repair.message,
      });
    return repair;
  }

  /**
   * Throws (SessionError naming the line) when the file no longer holds every entry this session
   * wrote, as written (a rewrite, even re-chained); catches up with entries another writer appended.
   * For a reader of the folder on disk (the report cell) before it shows or publishes what it read.
   */
  checkHeld(): void {
    this.resync();
  }

  /** The latest entry of a kind (optionally matching a predicate), typed by its kind. */
  last<K extends JournalKind>(kind: K, where?: (e: EntryOf<K>) => boolean): EntryOf<K> | undefined {
    return lastOf(this.entries, kind, where);
  }

  all(): readonly JournalEntry[] {
    return this.entries;
  }

  private write<K extends JournalKind>(kind: K, data: DataIn<K>): EntryOf<K> {
    const cut: Record<string, number> = {};
    const kept = capStrings(data, JOURNAL_TEXT_MAX, cut);
    // A caller may have recorded a cut of its own (the product's extra fields): both are kept.
    const before = data.truncated_from;
    const capped = Object.keys(cut).length ? { ...Object(kept), truncated_from: { ...before, ...cut } } : kept;
    const body = {
      seq: this.entries.length + 1,
      at: nowIso(),
      kind,
      // Round-trip through canonical JSON so the hash covers exactly what is written and read back.
      data: JSON.parse(canonicalJson(toJsonValue(redact(capped)))),
      prev: this.head,
    };
    // Checked as it will be read back: what is written is always an entry of its kind.
    const r = parseEntry({ ...body, hash: entryHash(body) }, true);
    if ("problem" in r)
      throw new SessionError(`journal ${this.file}: refusing to write ${kind}: ${r.problem} (a runbook bug)`);
    const entry = r.entry;
    if (!isKind(entry, kind) || entry.prev === undefined || entry.hash === undefined)
      throw new SessionError(
        `journal ${this.file}: refusing to write ${kind}: not read back as written (a runbook bug)`,
      );
    const line = `${serializeEntry({ ...entry, prev: entry.prev, hash: entry.hash })}\n`;
    appendSynced(this.file, line);
    this.bytes += Buffer.byteLength(line);
    this.mtimeMs = fs.statSync(this.file).mtimeMs;
    this.entries.push(entry);
    this.read = { ...this.read, lines: entry.seq, head: entry.hash };
    return entry;
  }

  /** Catches up with entries another process appended (e.g. npm run confirm-bank), or refuses a broken file. */
  private resync(): void {
    const st = fs.existsSync(this.file) ? fs.statSync(this.file) : null;
    const size = st?.size ?? 0;
    // The same size is not the same bytes: a FAIL edited into a PASS keeps the length (its time changes).
    if (size === this.bytes && (st?.mtimeMs ?? 0) === this.mtimeMs) return;
    const read = checkedJournal(readJournalFile(this.file));
    if (read.lines < this.entries.length)
      throw new SessionError(
        `journal ${this.file}: entries removed while open (now ${read.lines} line(s), was ${this.entries.length}); ${restoreHint(this.file)}`,
      );
    // Another writer may only have appended: every entry this session holds is still there, unchanged.
    // A rewrite re-chained so its hashes hold (a FAIL made PASS) is never adopted as the record.
    const changed = this.entries.findIndex((e, i) => read.entries[i]?.hash !== e.hash);
    if (changed >= 0)
      throw new SessionError(
        `journal ${this.file}: line ${changed + 1} changed while this session had it open (its hash is no longer the one written); ${restoreHint(this.file)}`,
      );
    this.read = read;
    this.entries = read.entries;
    this.bytes = size;
    this.mtimeMs = st?.mtimeMs ?? 0;
  }
}

/** A read journal, or a SessionError naming the first broken line (a torn last line is not broken: it is repaired on append). */
export function checkedJournal(read: JournalRead): JournalRead {
  const b = read.firstBroken;
  if (b && !isTornTail(read, b))
    throw new SessionError(`journal ${read.file} line ${b.line}: ${chainBreakText(b)}; ${restoreHint(read.file)}`);
  return read;
}

function appendSynced(file: string, text: string): void {
  const fd = fs.openSync(file, "a");
  try {
    appendWhole(fd, text, file);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

// ------------------------------------------------------------------------------------ readings
// The one place each of these is read from a journal: the runbook, the guards and the report
// all call them, so they cannot disagree. What they mean for the money is lib/run/ledger.ts.

/** The latest result of each step, by step id (a re-run replaces the earlier result). */
export function latestStepResults(entries: readonly JournalEntry[]): Map<string, StepResult> {
  const m = new Map<string, StepResult>();
  // By step id (issue 21 §2): a step's number is its position in a table, for display only.
  for (const e of entries) if (e.kind === "step_result") m.set(e.data.id, stepResultOf(e.data));
  return m;
}

/**
 * The run's parameters as the last pre-flight that passed pinned them (issue 22 §4: MODE, BASE_URL,
 * PRODUCT, MAX_PRICE, REFUND, as text), with its time; null before one passed (or in a journal
 * written before pre-flight pinned them).
 */
export function pinnedParameters(
  entries: readonly JournalEntry[],
): { params: Record<string, string>; at: string } | null {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    if (e.kind === "preflight" && e.data.ok && e.data.params) return { params: e.data.params, at: e.at };
  }
  return null;
}

// Money rules (moved, outstanding, refund attempts and amounts) live in lib/run/ledger.ts.
