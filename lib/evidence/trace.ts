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
import { type TraceEvent, type TraceEventType, eventHash, serializeEvent, splitLines, verifyChain } from "./chain";
import { redact } from "./redact";
import { chainBreakText } from "./finding-text";
import { type SecretRegistry, secrets } from "./secrets";

/** One writer per file in this process, so two callers never fork the chain. */
const open = new Map<string, Trace>();

/** Event types synced to disk at once; the rest are synced at most SYNC_EVERY_MS later. */
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

export class Trace {
  private lastSync = -Infinity;
  readonly file: string;
  private readonly registry: SecretRegistry;
  private lastHash: string;
  private lastSeq: number;
  /** File size after our last write: a different size means another writer (or a truncation). */
  private bytes: number;

  private constructor(file: string, registry: SecretRegistry, seq: number, head: string) {
    this.file = file;
    this.registry = registry;
    this.lastSeq = seq;
    this.lastHash = head;
    this.bytes = fs.statSync(file).size;
  }

  /** Catches up with lines another process appended (e.g. the pre-flight CLI), or refuses a broken file. */
  private resync(): void {
    let size: number;
    try {
      size = fs.statSync(this.file).size;
    } catch (err) {
      throw new TraceError("EVIDENCE_TRACE_BROKEN", this.file, 0, "trace file vanished while open", { cause: err });
    }
    if (size === this.bytes) return;
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

  /** Redacts the payload, chains and appends one line, fsynced before returning. */
  append(type: TraceEventType, payload: unknown): TraceEvent {
    this.resync();
    const body = {
      seq: this.lastSeq + 1,
      time: new Date().toISOString(),
      // Process-local monotonic clock (performance.now, ms since process start), 3 decimals;
      // it restarts when a session is resumed in another process, `time` does not.
      mono_ms: Math.round(performance.now() * 1000) / 1000,
      type,
      // Round-trip through canonical JSON so the hash covers exactly what is written and read back.
      payload: JSON.parse(canonicalJson(toJsonValue(redact(payload, this.registry)))) as unknown,
      prev: this.lastHash,
    };
    const event: TraceEvent = { ...body, hash: eventHash(body) };
    const line = `${serializeEvent(event)}\n`;
    const fd = fs.openSync(this.file, "a");
    try {
      // Every line is written synchronously (a killed kernel loses nothing: the bytes are in the
      // page cache). Durability against a machine crash is batched: synced at step boundaries and
      // operator acknowledgements, and at least every 250 ms otherwise (bench P3). The journal,
      // which guards money, still fsyncs every entry.
      appendWhole(fd, line, this.file);
      const now = performance.now();
      if (SYNC_TYPES.has(type) || now - this.lastSync >= SYNC_EVERY_MS) {
        fs.fdatasyncSync(fd);
        this.lastSync = now;
      }
    } finally {
      fs.closeSync(fd);
    }
    this.lastSeq = event.seq;
    this.lastHash = event.hash;
    this.bytes += Buffer.byteLength(line);
    return event;
  }

  /** Forgets this writer (after a last sync); the next Trace.open re-reads the file. */
  close(): void {
    if (fs.existsSync(this.file)) {
      const fd = fs.openSync(this.file, "r");
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    open.delete(path.resolve(this.file));
  }
}
