/**
 * Hash-chained JSON Lines trace (issue 5 §1). Each line is one event whose `hash` is the SHA-256 of
 * the canonical JSON of its other fields, `prev` included, so editing, deleting or reordering any
 * line breaks the chain from that line on. Payloads are redacted before hashing: the chain covers
 * exactly what is on disk. This module is the writer; the line format and the chain checks are in
 * ./chain.ts.
 */
import * as fs from "node:fs";
import { appendWhole } from "./append";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { TraceError } from "../errors";
import { canonicalJson, sha256, toJsonValue } from "./canonical";
import { type TraceEvent, type TraceEventType, eventLine, splitLines, verifyChain } from "./chain";
import { redact } from "./redact";
import { chainBreakText } from "./finding-text";
import { type SecretRegistry, secrets } from "./secrets";

/** One writer per file in this process, so two callers never fork the chain. */
const open = new Map<string, Trace>();

/**
 * Event types synced to disk before append returns (step boundaries, operator acknowledgements,
 * anomalies, state); the rest are synced at most SYNC_EVERY_MS after they were written.
 */
const SYNC_TYPES = new Set<TraceEventType>([
  "session",
  "step_start",
  "step_end",
  "operator_ack",
  "anomaly",
  "state",
  "db_query",
]);
const SYNC_EVERY_MS = 250;

/**
 * Durability of the other lines (issue 26 item 3): every line is written at once, so a killed
 * kernel loses nothing (the bytes are in the page cache); against a machine crash, the first
 * unsynced line arms an unref'd timer that syncs the file within SYNC_EVERY_MS (it is due at 80 %
 * of it) even when no further append comes. The timer's sync runs off the event loop (fs.fdatasync on its own descriptor), so
 * no call in flight waits for the disk. If the event loop is too busy for the timer to fire, the
 * next append past the deadline syncs in line. The journal, which guards money, still syncs every
 * entry before it returns.
 */
export class Trace {
  readonly file: string;
  private readonly registry: SecretRegistry;
  private lastHash: string;
  private lastSeq: number;
  /** File size after our last write: a different size means another writer (or a truncation). */
  private bytes: number;
  /** The append descriptor, kept open between appends (opened at the first one, closed by close()). */
  private fd: number | null = null;
  /** dev:ino of the file `fd` writes to: a different one at the path means the file was replaced. */
  private fdFile = "";
  /** performance.now() of the oldest line written but not yet synced; null when all are synced. */
  private unsyncedSince: number | null = null;
  private syncTimer: NodeJS.Timeout | null = null;

  private constructor(file: string, registry: SecretRegistry, seq: number, head: string) {
    this.file = file;
    this.registry = registry;
    this.lastSeq = seq;
    this.lastHash = head;
    this.bytes = fs.statSync(file).size;
  }

  /**
   * Catches up with lines another process appended (e.g. the pre-flight CLI), or refuses a broken
   * file; returns the append descriptor and the file's size. One stat of the path per append: it
   * sees another writer (size), a vanished file, and a file replaced under the open descriptor
   * (dev:ino), which an fstat of the descriptor alone would miss.
   */
  private resync(): { fd: number; size: number } {
    const st = fs.statSync(this.file, { throwIfNoEntry: false });
    if (!st) throw new TraceError("EVIDENCE_TRACE_BROKEN", this.file, 0, "trace file vanished while open");
    const id = `${st.dev}:${st.ino}`;
    if (this.fd !== null && this.fdFile !== id) this.release();
    if (this.fd === null) {
      this.fd = fs.openSync(this.file, "a");
      this.fdFile = id;
    }
    const size = st.size;
    if (size === this.bytes) return { fd: this.fd, size };
    const check = verifyChain(this.file);
    if (!check.ok || check.lines < this.lastSeq) {
      const at = check.firstBroken?.line ?? check.lines + 1;
      throw new TraceError(
        "EVIDENCE_TRACE_BROKEN",
        this.file,
        at,
        `changed by another writer: ${check.firstBroken ? chainBreakText(check.firstBroken) : "lines removed"}`,
      );
    }
    this.lastSeq = check.lines;
    this.lastHash = check.head;
    this.bytes = size;
    return { fd: this.fd, size };
  }

  /** Closes the append descriptor (the lines it wrote are on disk or in the page cache). */
  private release(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      fs.closeSync(fd);
    } catch {
      // already closed: nothing of ours is lost, the bytes were written
    }
  }

  /** Syncs the written lines in line (before append returns). */
  private syncNow(fd: number): void {
    fs.fdatasyncSync(fd);
    this.unsyncedSince = null;
  }

  /** Arms the timer that syncs SYNC_EVERY_MS after the oldest unsynced line, even if nothing follows. */
  private syncSoon(now: number): void {
    if (this.unsyncedSince === null) this.unsyncedSince = now;
    if (this.syncTimer) return;
    // Due a little before the deadline, so that it, and not the in-line fallback, normally does the sync.
    const due = this.unsyncedSince + SYNC_EVERY_MS * 0.8 - now;
    this.syncTimer = setTimeout(() => this.syncInBackground(), Math.max(0, due));
    this.syncTimer.unref();
  }

  /**
   * The timer's sync, on a descriptor of its own so close() never waits for it nor closes one it
   * uses. If it fails, the next append syncs in line (and throws there, where the caller sees it).
   */
  private syncInBackground(): void {
    this.syncTimer = null;
    if (this.unsyncedSince === null) return;
    const since = this.unsyncedSince;
    this.unsyncedSince = null;
    const failed = () => {
      if (this.unsyncedSince === null || this.unsyncedSince > since) this.unsyncedSince = since;
    };
    fs.open(this.file, "r", (err, fd) => {
      if (err) return failed();
      fs.fdatasync(fd, (syncErr) => {
        fs.close(fd, () => undefined);
        if (syncErr) failed();
      });
    });
  }

  /**
   * Opens (creating dirs) or resumes an existing file: checks the chain and continues seq and prev
   * from the last valid line. A torn final fragment (a crash mid-write) is moved to `<file>.torn-<n>`
   * and an anomaly event records its size and hash; any other break refuses to extend the file.
   * Example: const t = Trace.open("archive/payment-e2e/<id>/trace.jsonl"); t.append("note", { text: "hi" });
   */
  static open(file: string, registry: SecretRegistry = secrets): Trace {
    const key = path.resolve(file);
    const cached = open.get(key);
    if (cached) return cached;
    fs.mkdirSync(path.dirname(key), { recursive: true });
    if (!fs.existsSync(key)) fs.writeFileSync(key, "");
    const text = fs.readFileSync(key, "utf8");
    const { lines, torn } = splitLines(text);
    let tornBytes: string | null = null;
    if (torn) {
      tornBytes = lines.pop() ?? "";
      fs.renameSync(key, `${key}.torn-${Date.now()}`);
      fs.writeFileSync(key, lines.length ? `${lines.join("\n")}\n` : "");
    }
    const check = verifyChain(key);
    if (!check.ok) {
      throw new TraceError(
        "EVIDENCE_TRACE_BROKEN",
        file,
        check.firstBroken?.line ?? 0,
        `cannot resume: ${check.firstBroken ? chainBreakText(check.firstBroken) : undefined}`,
      );
    }
    const t = new Trace(file, registry, check.lines, check.head);
    open.set(key, t);
    if (tornBytes !== null) {
      t.append("anomaly", {
        kind: "warning",
        message: "torn final line set aside on resume",
        bytes: Buffer.byteLength(tornBytes),
        sha256: sha256(tornBytes),
      });
    }
    return t;
  }

  /** Hash of the last line (GENESIS when empty). */
  get head(): string {
    return this.lastHash;
  }

  /** Number of lines written so far (== last seq). */
  get seq(): number {
    return this.lastSeq;
  }

  /**
   * Redacts the payload, chains and appends one line, written before returning; synced before
   * returning for SYNC_TYPES, within SYNC_EVERY_MS for the rest (see the class comment).
   */
  append(type: TraceEventType, payload: unknown): TraceEvent {
    const { fd, size } = this.resync();
    // Serialised once: the hash and the line are built from this canonical text, and the event
    // returned carries it read back, so the hash covers exactly what is written and read back.
    const payloadJson = canonicalJson(toJsonValue(redact(payload, this.registry)));
    const body = {
      seq: this.lastSeq + 1,
      time: new Date().toISOString(),
      // Process-local monotonic clock (performance.now, ms since process start), 3 decimals;
      // it restarts when a session is resumed in another process, `time` does not.
      mono_ms: Math.round(performance.now() * 1000) / 1000,
      type,
      prev: this.lastHash,
    };
    const { hash, line } = eventLine(body, payloadJson);
    const text = `${line}\n`;
    appendWhole(fd, text, this.file, size);
    this.lastSeq = body.seq;
    this.lastHash = hash;
    this.bytes = size + Buffer.byteLength(text);
    const now = performance.now();
    if (SYNC_TYPES.has(type) || (this.unsyncedSince !== null && now - this.unsyncedSince >= SYNC_EVERY_MS))
      this.syncNow(fd);
    else this.syncSoon(now);
    // No descriptor is held open for writing between appends: a folder that must turn read-only
    // (a remount, fault scenario 2r) would refuse to while the kernel holds one.
    this.release();
    return { ...body, payload: JSON.parse(payloadJson) as unknown, hash };
  }

  /** Syncs and closes the append descriptor and forgets this writer; the next Trace.open re-reads the file. */
  close(): void {
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    if (this.fd !== null) {
      try {
        fs.fsyncSync(this.fd);
      } finally {
        this.release();
      }
    } else if (fs.existsSync(this.file)) {
      const fd = fs.openSync(this.file, "r");
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    this.unsyncedSince = null;
    open.delete(path.resolve(this.file));
  }
}
